"""Request dependencies the routers share: path ids and each resource's repository."""

from typing import Annotated

from fastapi import Depends, Path

from app.db import SessionDep
from app.stocks.repository import StockRepository
from app.users.repository import UserRepository

# Any integer is accepted here: the repository answers an id that cannot
# exist (0, -1, 2**40) with the same 404 as one that does not.
UserId = Annotated[int, Path(description="The user's id.", examples=[1])]
StockId = Annotated[int, Path(description="The stock's id.", examples=[1])]


# Every dependency is `async def`: FastAPI runs plain functions in a thread
# pool, a hop that costs more than what they do.
async def user_repository(session: SessionDep) -> UserRepository:
    return UserRepository(session)


async def stock_repository(session: SessionDep) -> StockRepository:
    return StockRepository(session)


UserRepositoryDep = Annotated[UserRepository, Depends(user_repository)]
StockRepositoryDep = Annotated[StockRepository, Depends(stock_repository)]
