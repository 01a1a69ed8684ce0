"""The API schemas validate in pydantic's Rust core, never through a Python `__init__`.

`app.kit.fields.Schema` marks its `__init__` with pydantic's internal
`__pydantic_base_init__` flag; without it every request body and every row of
a list would be validated a second time in Python (a page of 100 stocks took
three times as long). The flag is not public API: if an upgrade stops
honouring it, these tests fail rather than the service slowing down unseen.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlmodel import SQLModel

from app.kit.fields import Schema
from app.portfolio import models as portfolio_models
from app.stocks import models as stocks_models
from app.stocks.models import StockPublic
from app.users import models as users_models
from app.users.models import UserWithStocks

NOW = datetime(2026, 1, 1, tzinfo=UTC)
STOCK = {
    "id": 1, "name": "AAPL", "price": Decimal("175.5"), "quantity": 10, "is_active": True,
    "user_id": 1, "created_at": NOW, "updated_at": NOW,
}  # fmt: skip

PUBLIC_SCHEMAS = sorted(
    {
        value
        for models in (users_models, stocks_models, portfolio_models)
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, Schema)
    },
    key=lambda schema: schema.__name__,
)


def _custom_init_flags(core_schema: Any) -> list[bool]:
    """Every `custom_init` in a pydantic core schema, nested models included."""
    if isinstance(core_schema, dict):
        own = [core_schema["custom_init"]] if core_schema.get("type") == "model" else []
        return own + [flag for value in core_schema.values() for flag in _custom_init_flags(value)]
    if isinstance(core_schema, list):
        return [flag for value in core_schema for flag in _custom_init_flags(value)]
    return []


@pytest.mark.parametrize("schema", PUBLIC_SCHEMAS, ids=lambda schema: schema.__name__)
def test_no_public_schema_has_a_custom_init(schema: type[Schema]) -> None:
    flags = _custom_init_flags(schema.__pydantic_core_schema__)
    assert flags, "pydantic's core schema no longer says whether a model has its own __init__"
    assert not any(flags)


def test_validating_a_user_with_stocks_runs_no_python_init(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = SQLModel.__init__

    def counting_init(self: SQLModel, **data: Any) -> None:
        calls.append(type(self).__name__)
        original(self, **data)

    monkeypatch.setattr(SQLModel, "__init__", counting_init)
    user = {
        "id": 1, "name": "John Doe", "age": 30, "email": None, "is_admin": False,
        "signup_ts": NOW, "updated_at": NOW, "stocks": [STOCK] * 3,
    }  # fmt: skip
    validated = TypeAdapter(UserWithStocks).validate_python(user)
    assert validated.stocks[2] == StockPublic.model_validate(STOCK)  # the validators did run
    calls.clear()  # model_validate above is allowed its __init__; the list validation is not
    TypeAdapter(list[StockPublic]).validate_python([STOCK] * 100)
    TypeAdapter(UserWithStocks).validate_python(user)
    assert calls == []


def test_a_schema_whose_init_is_not_marked_would_be_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a schema with a plain __init__ of its own does call it."""

    class Unmarked(SQLModel):
        name: str

        def __init__(self, **data: Any) -> None:
            super().__init__(**data)

    assert any(_custom_init_flags(Unmarked.__pydantic_core_schema__))
