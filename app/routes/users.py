"""Users: the guide's /users/ endpoints."""

from collections.abc import Sequence

from fastapi import APIRouter, status
from sqlmodel import delete, select, update

from app.db import SessionDep
from app.dependencies import PageDep, UserId, UserWithStocksDep, user_not_found
from app.errors import NOT_FOUND_RESPONSE
from app.models import User, UserCreate, UserPublic, UserUpdate, UserWithStocks

router = APIRouter(prefix="/users", tags=["users"])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_user(payload: UserCreate, session: SessionDep) -> UserPublic:
    """Create a user. `name`: 3 to 255 characters, starting with a capital; `age`: optional, 0 to 150."""
    user = User.model_validate(payload)
    session.add(user)
    await session.commit()
    return user


@router.get("/")
async def read_users(page: PageDep, session: SessionDep) -> Sequence[UserPublic]:
    """List users by id, `limit` at a time from `skip`."""
    statement = select(User).order_by(User.id).offset(page.skip).limit(page.limit)
    return (await session.exec(statement)).all()


@router.get("/{user_id}", responses=NOT_FOUND_RESPONSE)
async def read_user(user: UserWithStocksDep) -> UserWithStocks:
    """One user, with their stocks."""
    return user


@router.put("/{user_id}", responses=NOT_FOUND_RESPONSE)
async def update_user(user_id: UserId, payload: UserUpdate, session: SessionDep) -> UserPublic:
    """Replace a user's name and age."""
    # One UPDATE ... RETURNING: a user deleted meanwhile is a clean 404, not a
    # race between a read and a write.
    statement = update(User).where(User.id == user_id).values(payload.model_dump()).returning(User)
    user = await session.scalar(statement)
    if user is None:
        raise user_not_found(user_id)
    await session.commit()
    return user


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND_RESPONSE)
async def delete_user(user_id: UserId, session: SessionDep) -> None:
    """Delete a user and, by ON DELETE CASCADE, all their stocks."""
    deleted = await session.scalar(delete(User).where(User.id == user_id).returning(User.id))
    if deleted is None:
        raise user_not_found(user_id)
    await session.commit()
