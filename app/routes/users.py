"""Users: the guide's /users/ endpoints, plus PATCH, filters, sorting and ETags."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator

from app.crud import create, delete_or_404, patch_or_404, replace_or_404
from app.db import SessionDep, TransactionDep
from app.dependencies import UserId, UserWithStocksDep, VersioningDep
from app.errors import NOT_FOUND_RESPONSE
from app.etags import ETAG_HEADER, ETAG_RESPONSE, IF_MATCH_FROM_ETAG, PRECONDITION_FAILED_RESPONSE, set_etag
from app.listing import LIST_RESPONSE_HEADERS, ListingDep, parse_sort, rows_of
from app.models import User, UserCreate, UserPublic, UserUpdate, UserWithStocks, storable_text

router = APIRouter(prefix="/users", tags=["users"])

# OpenAPI links: what a client (or a stateful fuzzer) can do with a new user's
# id, and with its ETag, a write that only lands if nobody changed the user.
_NEW_USER_ID = {"user_id": "$response.body#/id"}
NEW_USER_LINKS = {
    name: {"operationId": operation, "parameters": _NEW_USER_ID}
    for name, operation in [
        ("ReadUser", "read_user"),
        ("ReplaceUser", "replace_user"),
        ("UpdateUser", "update_user"),
        ("DeleteUser", "delete_user"),
        ("CreateStockForUser", "create_stock_for_user"),
        ("ReadUserStocks", "read_user_stocks"),
        ("ReadPortfolio", "read_portfolio"),
    ]
} | {
    f"{name}IfUnchanged": {"operationId": operation, "parameters": {**_NEW_USER_ID, **IF_MATCH_FROM_ETAG}}
    for name, operation in [
        ("ReplaceUser", "replace_user"),
        ("UpdateUser", "update_user"),
        ("DeleteUser", "delete_user"),
    ]
}
ONE_USER = {**NOT_FOUND_RESPONSE, **ETAG_RESPONSE}
CHANGE_USER = {**ONE_USER, **PRECONDITION_FAILED_RESPONSE}

UserSort = Literal["id", "-id", "name", "-name", "age", "-age", "signup_ts", "-signup_ts"]
NamePart = Annotated[str, AfterValidator(storable_text)]


@router.post(
    "/", status_code=status.HTTP_201_CREATED, responses={201: {"links": NEW_USER_LINKS, "headers": ETAG_HEADER}}
)
async def create_user(payload: UserCreate, session: SessionDep, response: Response) -> UserPublic:
    """Create a user. `name`: 3 to 255 characters, starting with a capital; `age`: optional, 0 to 150."""
    return set_etag(response, await create(session, User, payload))


@router.get("/", responses={200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_users(
    listing: ListingDep,
    session: SessionDep,
    name: Annotated[
        NamePart | None, Query(max_length=255, description="Part of the name, case-insensitive: `doe` finds John Doe.")
    ] = None,
    sort: Annotated[UserSort, Query(description="Field to sort by; `-` in front for descending.")] = "id",
) -> list[UserPublic]:
    """List users, `limit` at a time; follow the `Link: rel="next"` header for the next page."""
    statement = rows_of(User)
    if name:
        statement = statement.where(User.name.icontains(name, autoescape=True))
    return await listing.fetch(session, statement, parse_sort(sort, User))


@router.get("/{user_id}", responses=ONE_USER)
async def read_user(user: UserWithStocksDep, response: Response) -> UserWithStocks:
    """One user, with their stocks."""
    response.headers["ETag"] = user.etag
    return user.body


@router.put("/{user_id}", responses=CHANGE_USER)
async def replace_user(
    user_id: UserId, payload: UserCreate, session: SessionDep, versioning: VersioningDep
) -> UserPublic:
    """Replace a user's name and age (an `age` left out becomes null, as in the guide)."""
    return await replace_or_404(session, User, user_id, payload, versioning)


@router.patch("/{user_id}", responses=CHANGE_USER)
async def update_user(
    user_id: UserId, changes: UserUpdate, session: TransactionDep, versioning: VersioningDep
) -> UserPublic:
    """Change only the fields sent. `age` may be set to null; `name` may not."""
    return await patch_or_404(session, User, user_id, changes, versioning)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND_RESPONSE, **PRECONDITION_FAILED_RESPONSE},
)
async def delete_user(user_id: UserId, session: SessionDep, versioning: VersioningDep) -> None:
    """Delete a user and, by ON DELETE CASCADE, all their stocks."""
    await delete_or_404(session, User, user_id, versioning)
