"""names and symbols: the rules the API enforces, as CHECKs the database can state

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Names: trimmed; no control or invisible characters (those of the Basic
Multilingual Plane); the first character never ASCII other than A-Z. Symbols:
starting with a letter or digit. (STORED_NAME_PATTERN in app/users/models.py,
STORED_SYMBOL_PATTERN in app/stocks/models.py; copied here, since a migration
must not change when the models do.)

Rows written before these rules are trimmed where that is all they need. Any
row still breaking a rule keeps its value: its constraint is then left NOT
VALID (enforced on every insert and update, not on the rows already there) and
the migration says how many rows to fix and how to find them.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

# What Python's str.strip() removes: every Unicode space, tab and line break.
SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
_REFUSED = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NAME_PATTERN = rf"^[^\u0000-\u0040\u005b-\u009f{_SPACE}{_REFUSED}](?:[^{_REFUSED}]*[^{_SPACE}{_REFUSED}])?$"
SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]*$"

CHECKS = [
    ("users", "ck_users_name_format", f"name ~ '{NAME_PATTERN}'"),
    ("stocks", "ck_stocks_symbol_format", f"name ~ '{SYMBOL_PATTERN}'"),
]


def upgrade() -> None:
    # Trim names as the API now does, where the trimmed name still has the 3 characters the old CHECK wants.
    op.execute(
        sa.text(
            "UPDATE users SET name = btrim(name, :spaces)"
            " WHERE name <> btrim(name, :spaces) AND char_length(btrim(name, :spaces)) >= 3"
        ).bindparams(spaces=SPACES)
    )
    for table, name, condition in CHECKS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
        if op.get_context().as_sql:
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
            continue
        breaking = op.get_bind().scalar(sa.text(f"SELECT count(*) FROM {table} WHERE NOT ({condition})"))
        if breaking:
            logger.warning(
                "%s rows of %s break %s; it holds for new writes only until they are fixed "
                "(find them with: SELECT * FROM %s WHERE NOT (%s); then: ALTER TABLE %s VALIDATE CONSTRAINT %s)",
                breaking, table, name, table, condition, table, name,
            )  # fmt: skip
        else:
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    for table, name, _ in reversed(CHECKS):
        op.drop_constraint(op.f(name), table, type_="check")
