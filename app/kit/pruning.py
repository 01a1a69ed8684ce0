"""One batch of a housekeeping pass: a DELETE that runs only where no other instance is pruning the same thing.

Auth's pruning (app/auth/repository.py) and idempotency's
(app/idempotency/repository.py) run their batches through this one shape.
Each batch is one short transaction that first takes an advisory lock, for
that transaction only: whoever holds it prunes, any other instance finds it
taken and leaves the work to them. A lock held per session instead would
outlive a pass cut short (a worker stopping between lock and unlock) on the
pooled connection, and stop all pruning until that connection closed.
"""

from sqlalchemy import Executable, text
from sqlmodel.ext.asyncio.session import AsyncSession

_TAKE_LOCK = text("SELECT pg_try_advisory_xact_lock(:lock)")
_LIMIT_THIS_TRANSACTION = text("SELECT set_config('statement_timeout', :milliseconds, true)")


async def delete_one_batch(
    session: AsyncSession, delete: Executable, *, lock: int, batch_size: int, statement_timeout_ms: int
) -> int | None:
    """Run `delete` (bound to `:batch_size`) under `lock`: how many rows it deleted, or None when the lock was taken."""
    # The app's sessions autocommit each statement; the lock and the limit must span these three.
    await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
    try:
        # sqlmodel's exec() is typed for its own select() only (as in app/kit/repository.py).
        exec_ = session.exec
        await exec_(_LIMIT_THIS_TRANSACTION, params={"milliseconds": str(statement_timeout_ms)})  # type: ignore[call-overload]
        locked = await exec_(_TAKE_LOCK, params={"lock": lock})  # type: ignore[call-overload]
        if not locked.scalar_one():
            return None
        result = await exec_(delete, params={"batch_size": batch_size})  # type: ignore[call-overload]
        deleted: int = result.rowcount
        await session.commit()
        return deleted
    finally:
        await session.rollback()  # a no-op after the commit; else it ends the transaction and the lock
