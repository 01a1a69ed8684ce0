"""The one base of every domain error, and the errors every resource shares.

An `AppError` carries what its answer needs: the status, a stable `code`
(app/http/problems.py lists every code, with its title), the guide's
`detail` sentence and any headers. It is raised where the rule lives (a
repository, a service, a dependency) and answered once, by the one handler
in app/http/errors.py: routes never build a 404 or a 412 by hand.
"""

from collections.abc import Mapping
from typing import ClassVar


class AppError(Exception):
    """A refusal the client can act on: `status_code`, a `code`, the `detail` sentence, and `headers`.

    Answered as RFC 9457 problem details (app/http/errors.py): `code` and
    `title` name the kind of refusal, the same for every answer of that kind,
    and must be in app/http/problems.py's registry (a test holds them to it).

    One that names a field of the request (`location`, as pydantic's errors
    do: `("query", "cursor")`) is answered as FastAPI answers invalid input,
    a 422 listing it, with the `rejected` value cut as any echoed input is.
    """

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"
    # A class's own (InvalidCursor's), or one instance's (a ledger refusal names the field at fault).
    location: tuple[str, ...] | None = None

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        rejected: object = None,
        location: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers) if headers else None
        self.rejected = rejected
        if location is not None:
            self.location = location

    @property
    def problem_code(self) -> str:
        """This answer's code: the class's, unless an instance says more (a `NotFound` names its resource)."""
        return self.code


class NotFound(AppError):
    """No row of `resource` has this id (or none the caller may see): the guide's 404."""

    status_code = 404
    code = "not_found"
    title = "Not found"

    def __init__(self, resource: str, row_id: int) -> None:
        super().__init__(f"{resource} with ID {row_id} not found")
        self.resource = resource

    @property
    def problem_code(self) -> str:
        """`user_not_found`, `personal_access_token_not_found`: the resource says which, its words joined by `_`."""
        return "_".join(self.resource.lower().split()) + "_not_found"


class VersionMismatch(AppError):
    """`If-Match` named a version the row no longer has: 412, with the current ETag."""

    status_code = 412
    code = "version_mismatch"
    title = "Version mismatch"

    def __init__(self, resource: str, row_id: int, etag: str) -> None:
        self.etag = etag
        super().__init__(
            f"{resource} with ID {row_id} has changed since you read it; its ETag is now {etag}",
            headers={"ETag": etag},
        )


class Conflict(AppError):
    """The write would break a uniqueness rule (an email already taken): 409, saying which."""

    status_code = 409
    code = "conflict"
    title = "Conflict"


class Forbidden(AppError):
    """403: the caller is known, and this is not theirs to do (setting `is_admin`, say)."""

    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class AdminOnly(Forbidden):
    """403: only an admin may do this (set `is_admin`, change data every user shares)."""

    code = "admin_only"
    title = "Only an admin may do this"


class InvalidCursor(AppError):
    """A `cursor` this API did not make, or made for another sort: a 422 naming `cursor`."""

    status_code = 422
    code = "invalid_cursor"
    title = "Invalid cursor"
    location = ("query", "cursor")

    def __init__(self, token: str, why: str) -> None:
        super().__init__(f"Invalid cursor: {why}", rejected=token)
        self.token = token
