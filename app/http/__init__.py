"""HTTP plumbing every route shares: error answers, ETags, paging headers, the docs pages and the middleware.

- `problems.py`: every error code (the registry), RFC 9457 problem details, and `GET /problems/{code}`.
- `errors.py`: every failure mapped to its problem-details answer (one handler for `AppError`), and the
  error responses of the OpenAPI.
- `rate_limits.py`: the `RateLimit-*` headers of the throttled operations.
- `etags.py`: `ETag` on single-row answers, `If-Match` for writes.
- `paging.py`: a list's query parameters and its `Link` / `X-Total-Count` headers.
- `docs.py`: /docs and /redoc from app/static/.
- `client_address.py`: the client's address, as the throttles count it and the log shows it.
- Middleware: `request_log.py` (one line per request, the request id), `body_limit.py` (413),
  `head.py` (HEAD as GET), `header_limit.py` (431, in uvicorn's parser).
"""
