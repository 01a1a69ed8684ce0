"""refresh tokens: an index on expires_at, so housekeeping finds expired tokens without reading the table

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Housekeeping (app/auth/pruning.py) deletes expired refresh tokens in small batches, oldest
first; with this index each batch reads only the rows it deletes.

Not CONCURRENTLY: that waits for every transaction open anywhere on the
database to end, and the other instances starting at the same moment are
waiting inside one, for the migration lock this instance holds
(app/core/migrations.py); it would wait for them forever (the three-instance test
in tests/ops/test_migrate_and_backup.py hung so). A plain build holds off
logins and refreshes for as long as it takes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_refresh_tokens_expires_at"), "refresh_tokens", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_tokens_expires_at"), table_name="refresh_tokens")
