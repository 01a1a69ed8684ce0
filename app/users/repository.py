"""Every SQL statement on users: one user with their stocks, the list, and the writes."""

from typing import Any, ClassVar

from pydantic import TypeAdapter
from sqlalchemy import Select, Table, bindparam, select

from app.models import STOCKS, USERS, UserCreate, UserPublic, UserUpdate, UserWithStocks
from app.paging import Page, PageParams, SortOrder
from app.repository import IfMatch, NotFound, Repository, Versioned

# A user and their stocks in one round trip: the user's columns, then each
# stock's (all NULL for a user without stocks), one row per stock. Plain
# columns, not ORM entities: building a response from rows skips the identity
# map and instance bookkeeping, which cost more than the query on this path.
_USER_WITH_STOCKS = (
    select(*USERS.c, *(column.label(f"stock_{column.name}") for column in STOCKS.c))
    .select_from(USERS.outerjoin(STOCKS))
    .where(USERS.c.id == bindparam("row_id"))
    .order_by(STOCKS.c.id)
)
_STOCK_COLUMNS = [(f"stock_{column.name}", column.name) for column in STOCKS.c]


class UserRepository(Repository[UserPublic]):
    table: ClassVar[Table] = USERS
    resource: ClassVar[str] = "User"
    public: ClassVar[TypeAdapter[Any]] = TypeAdapter(UserPublic)
    public_list: ClassVar[TypeAdapter[Any]] = TypeAdapter(list[UserPublic])
    # Pydantic's own validator, all in Rust: SQLModel's `model_validate` adds a
    # Python pass meant for table rows, a tenth of this request's time.
    _with_stocks: ClassVar[TypeAdapter[UserWithStocks]] = TypeAdapter(UserWithStocks)

    async def read_with_stocks(self, user_id: int) -> Versioned[UserWithStocks]:
        """The user and their stocks, in one statement whatever the number of stocks."""
        self._require_possible_id(user_id)
        rows = (await self._execute(_USER_WITH_STOCKS, {"row_id": user_id})).mappings().all()
        if not rows:
            raise NotFound(self.resource, user_id)
        user = dict(rows[0])
        user["stocks"] = [
            {name: row[label] for label, name in _STOCK_COLUMNS} for row in rows if row["stock_id"] is not None
        ]
        return Versioned(self._with_stocks.validate_python(user), user["version"])

    async def require(self, user_id: int) -> None:
        """Nothing if the user exists; `NotFound` otherwise."""
        if not await self.exists(user_id):
            raise NotFound(self.resource, user_id)

    async def list(self, name_part: str | None, order: SortOrder, params: PageParams) -> Page[UserPublic]:
        """Users whose name contains `name_part` (any case), a page at a time."""
        statement: Select[Any] = self._all_columns()
        if name_part:
            statement = statement.where(USERS.c.name.icontains(name_part, autoescape=True))
        return await self._page(statement, order, params)

    async def create(self, user: UserCreate) -> Versioned[UserPublic]:
        return await self._insert(user.model_dump())

    async def replace(self, user_id: int, user: UserCreate, if_match: IfMatch) -> Versioned[UserPublic]:
        """Every field set from `user`: an `age` left out becomes null, as in the guide."""
        return await self._update(user_id, user.model_dump(), if_match)

    async def patch(self, user_id: int, changes: UserUpdate, if_match: IfMatch) -> Versioned[UserPublic]:
        """Only the fields the client sent."""
        return await self._update(user_id, changes.model_dump(exclude_unset=True), if_match)
