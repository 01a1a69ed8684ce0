"""create users and stocks

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("signup_ts", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("age BETWEEN 0 AND 150", name=op.f("ck_users_age_range")),
        sa.CheckConstraint("char_length(name) >= 3", name=op.f("ck_users_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "stocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=10), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_stocks_price_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stocks_quantity_positive")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_stocks_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stocks")),
    )
    op.create_index(op.f("ix_stocks_name"), "stocks", ["name"], unique=False)
    op.create_index(op.f("ix_stocks_user_id"), "stocks", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_stocks_user_id"), table_name="stocks")
    op.drop_index(op.f("ix_stocks_name"), table_name="stocks")
    op.drop_table("stocks")
    op.drop_table("users")
