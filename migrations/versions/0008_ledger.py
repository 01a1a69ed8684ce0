"""ledger: each holding's transactions; every existing stock gets its opening buy; a sold-out holding holds 0

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

The `transactions` table (docs/reference/ledger.md), carrying `user_id` as every
per-user table does, indexed for a holding's ledger and a user's list (both
by day, then id). Each existing stock gets its opening buy: its quantity at
its price, on the day it was created (UTC), with no fee, so that replaying
its ledger gives the row exactly. `stocks.quantity` may now be 0 (every share
sold); the API still takes only more than 0 from a client.

Downgrading drops the ledger and deletes the sold-out holdings (quantity 0),
which the revision before cannot hold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stock_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("fee", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("ratio", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("realized_gain", sa.Numeric(precision=24, scale=4), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "type IN ('buy', 'sell', 'dividend', 'fee', 'split', 'adjustment')", name=op.f("ck_transactions_known_type")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_transactions_quantity_not_negative")),
        sa.CheckConstraint("price > 0", name=op.f("ck_transactions_price_positive")),
        sa.CheckConstraint("fee >= 0", name=op.f("ck_transactions_fee_not_negative")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transactions_amount_positive")),
        sa.CheckConstraint("ratio > 0", name=op.f("ck_transactions_ratio_positive")),
        sa.ForeignKeyConstraint(
            ["stock_id"], ["stocks.id"], name=op.f("fk_transactions_stock_id_stocks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_transactions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
    )
    op.create_index(
        "ix_transactions_stock_id_occurred_on_id", "transactions", ["stock_id", "occurred_on", "id"], unique=False
    )
    op.create_index(
        "ix_transactions_user_id_occurred_on_id", "transactions", ["user_id", "occurred_on", "id"], unique=False
    )
    op.drop_constraint(op.f("ck_stocks_quantity_positive"), "stocks", type_="check")
    op.create_check_constraint(op.f("ck_stocks_quantity_not_negative"), "stocks", "quantity >= 0")
    # Each stock's opening buy, in the order the stocks were made; replaying it gives the row as it is.
    op.execute(
        "INSERT INTO transactions (stock_id, user_id, type, occurred_on, quantity, price, fee, created_at) "
        "SELECT id, user_id, 'buy', (created_at AT TIME ZONE 'UTC')::date, quantity, price, 0, created_at "
        "FROM stocks ORDER BY id"
    )


def downgrade() -> None:
    op.execute("DELETE FROM stocks WHERE quantity = 0")
    op.drop_constraint(op.f("ck_stocks_quantity_not_negative"), "stocks", type_="check")
    op.create_check_constraint(op.f("ck_stocks_quantity_positive"), "stocks", "quantity > 0")
    op.drop_index("ix_transactions_user_id_occurred_on_id", table_name="transactions")
    op.drop_index("ix_transactions_stock_id_occurred_on_id", table_name="transactions")
    op.drop_table("transactions")
