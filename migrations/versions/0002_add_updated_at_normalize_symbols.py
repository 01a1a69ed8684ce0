"""add updated_at, normalize symbols

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("users", "stocks"):
        op.add_column(
            table,
            sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        )
    # Rows that existed before were last changed when they were made, not now.
    op.execute("UPDATE users SET updated_at = signup_ts")
    op.execute("UPDATE stocks SET updated_at = created_at")
    # The API now stores symbols trimmed and upper-case; bring older rows in line.
    op.execute("UPDATE stocks SET name = upper(btrim(name)) WHERE name <> upper(btrim(name))")


def downgrade() -> None:
    op.drop_column("stocks", "updated_at")
    op.drop_column("users", "updated_at")
