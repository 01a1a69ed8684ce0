"""The sharding plan stays possible: every per-user table carries `user_id` (docs/explanation/sharding.md).

Distributed by user (Citus-style: users by `id`, the rest co-located by
`user_id`), each row must say whose it is, in a column of its own, never
null, pointing at `users.id`: a table that reaches its user only through a
join (a transaction through its stock) could not be placed on its user's
shard. A new table is per-user unless it is listed below with the reason.
"""

from sqlalchemy import Table
from sqlmodel import SQLModel

import app.tables  # noqa: F401  # registers every table on SQLModel.metadata

# The table the others are distributed after: its own `id` is the user.
DISTRIBUTION_ROOT = "users"
# Tables not per user, and where they would go.
NOT_PER_USER = {
    "prices": "market closes every user shares: a reference table, copied to every shard",
    "login_failures": "counted by email and client address before anyone is known to be a user: stays local",
    "sign_ups_by_address": "counted by client address before the user exists: stays local",
    "idempotency_keys": "keyed by caller, a user or (signing up) an address: distributed by its own `caller`",
}


def per_user_tables() -> list[Table]:
    return [
        table
        for name, table in sorted(SQLModel.metadata.tables.items())
        if name != DISTRIBUTION_ROOT and name not in NOT_PER_USER
    ]


def test_every_per_user_table_carries_a_user_id_that_names_its_user() -> None:
    missing = []
    for table in per_user_tables():
        column = table.columns.get("user_id")
        if column is None:
            missing.append(f"{table.name}: no user_id column")
        elif column.nullable:
            missing.append(f"{table.name}: user_id may be null")
        elif not any(key.target_fullname == f"{DISTRIBUTION_ROOT}.id" for key in column.foreign_keys):
            missing.append(f"{table.name}: user_id does not reference {DISTRIBUTION_ROOT}.id")
    assert not missing, (
        "The sharding plan (docs/explanation/sharding.md) needs user_id on every per-user table; "
        f"add it, or list the table in NOT_PER_USER with the reason: {missing}"
    )


def test_the_tables_listed_as_not_per_user_exist_and_hold_no_user_id() -> None:
    tables = SQLModel.metadata.tables
    assert DISTRIBUTION_ROOT in tables
    for name in NOT_PER_USER:
        assert name in tables, f"{name} is listed as not per user but no longer exists"
        assert "user_id" not in tables[name].columns, f"{name} holds user_id: it is per user after all"


def test_the_per_user_tables_are_those_the_plan_names() -> None:
    # The plan's page names these; a new per-user table passes the first test and belongs on that page too.
    assert {table.name for table in per_user_tables()} >= {"stocks", "transactions", "refresh_tokens"}
