"""Rate-limit headers: how many tries a throttled operation has left, told on every answer of it.

The separate fields of the IETF draft (draft-ietf-httpapi-ratelimit-headers):
`RateLimit-Limit` (tries allowed in the window), `RateLimit-Remaining` (left
before a 429) and `RateLimit-Reset` (seconds until a try is given back). An
operation counted against two limits (a sign-in: 5 failures per email, 20 per
address) tells the one closest to running out.
"""

from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(max(0, self.reset_seconds)),
        }

    def set_on(self, response: Response) -> None:
        response.headers.update(self.headers())


def tightest(*limits: RateLimit) -> RateLimit:
    """Of several limits one request counts against, the one with fewest tries left (the smaller limit on a tie)."""
    return min(limits, key=lambda limit: (limit.remaining, limit.limit))


# Told the rate limit a request was counted against, so the route can answer it in headers.
RateLimitSeen = Callable[[RateLimit], None]
