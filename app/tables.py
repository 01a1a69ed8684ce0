"""Every table the app defines, registered on SQLModel.metadata by importing its resource's models.

The one list of them: Alembic autogenerates against it (migrations/env.py) and
the tests empty and drop what it names (tests/helpers.py, tests/conftest.py).
A resource's models that were missing here would look, to `python -m app
revision`, like tables to drop. Outside the layers: it imports resources only
for what importing them does.
"""

import app.auth.models
import app.idempotency.models
import app.prices.models
import app.stocks.ledger.models
import app.stocks.models
import app.users.models  # noqa: F401
