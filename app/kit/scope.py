"""Which rows a request may reach: every row, or one user's, carried into every statement's WHERE.

The caller's scope is decided once per request (app/auth/access.py,
`caller_scope`) and handed to each repository, so a signed-in user's
statements reach only rows they own and another's row is a `NotFound`
exactly as if it did not exist (docs/explanation/security.md).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Integer, bindparam, or_


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows a request may reach: every row (`owner_id` None), or those of one user."""

    owner_id: int | None = None

    def params(self) -> dict[str, Any]:
        return {"any_owner": self.owner_id is None, "owner_id": self.owner_id or 0}

    def reaches_user(self, user_id: int) -> bool:
        return self.owner_id is None or self.owner_id == user_id


EVERY_ROW = Scope()


def owner_matches(owner: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL for "the row belongs to the caller's scope", for every statement's WHERE (`Scope.params()`).

    A parameter, not a statement per scope: one statement is compiled and
    prepared for all callers. Lists, whose plans depend on it, filter by the
    owner directly instead (`Repository._page`).
    """
    return or_(bindparam("any_owner", type_=Boolean), owner == bindparam("owner_id", type_=Integer))
