"""prices: each symbol's daily close, shared by every user

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A new, empty reference table; no existing row changes and nothing here
depends on the ledger. The key (symbol, date) is the index a symbol's list
walks, oldest first. The symbol and the close follow the stocks' rules: the
same symbol CHECK, NUMERIC(12, 4), more than 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As a stored stock symbol (0005_name_and_symbol_rules.py), written out: a migration never imports the app.
SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]*$"


def upgrade() -> None:
    op.create_table(
        "prices",
        sa.Column("symbol", sa.String(length=10), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("close", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.CheckConstraint("close > 0", name=op.f("ck_prices_close_positive")),
        sa.CheckConstraint(f"symbol ~ '{SYMBOL_PATTERN}'", name=op.f("ck_prices_symbol_format")),
        sa.PrimaryKeyConstraint("symbol", "date", name=op.f("pk_prices")),
    )


def downgrade() -> None:
    op.drop_table("prices")
