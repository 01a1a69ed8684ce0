"""Schemathesis hooks for make fuzz (loaded through SCHEMATHESIS_HOOKS by tests/whole_api/test_fuzz.py).

An `Idempotency-Key` schemathesis draws is a short string it reuses across
cases, so a later request with the same key and body gets the first answer
replayed, as the key promises (docs/reference/idempotency.md), even when the
row it created has been deleted since; schemathesis' stateful checks then see
a "created" user that is not there. Each drawn key is made unique instead: the
fuzzing still sends the header (its 422 for a malformed one included), and
replays, reuse and races are tested on purpose in tests/idempotency/.
"""

import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, str] | None) -> dict[str, str] | None:
    if headers and headers.get("Idempotency-Key"):
        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
    return headers
