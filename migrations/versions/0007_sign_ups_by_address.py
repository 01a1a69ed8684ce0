"""sign-ups by address: each client address's sign-ups of the last hour, for SIGNUPS_PER_HOUR

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

A new, empty table; no existing row changes. One row per address, its recent
sign-ups in one array, so that counting them and adding one is a single
statement on one row (app/auth/repository.py). Housekeeping deletes the rows
of addresses that have not signed up for an hour.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_ups_by_address",
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("signed_up_at", sa.ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.PrimaryKeyConstraint("client_address", name=op.f("pk_sign_ups_by_address")),
    )


def downgrade() -> None:
    op.drop_table("sign_ups_by_address")
