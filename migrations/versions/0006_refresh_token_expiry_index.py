"""refresh tokens: an index on expires_at, so housekeeping finds expired tokens without reading the table

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

app/housekeeping.py deletes expired refresh tokens in small batches, oldest
first; with this index each batch reads only the rows it deletes. Built
CONCURRENTLY (outside the migration's transaction), so logins and refreshes
go on while it builds on a large table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            op.f("ix_refresh_tokens_expires_at"),
            "refresh_tokens",
            ["expires_at"],
            unique=False,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(op.f("ix_refresh_tokens_expires_at"), table_name="refresh_tokens", postgresql_concurrently=True)
