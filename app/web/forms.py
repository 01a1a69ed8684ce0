"""Reading the pages' forms: fields as the API's JSON body, so the API's models judge them in the API's words."""

import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import Form
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.kit.fields import INT32_MAX
from app.kit.repository import ANY_VERSION, IfMatch

# A page's form field: text, as a browser sends it; "" when the form left it out.
FormText = Annotated[str, Form()]


def field_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Validation errors by field, in the API's own words (its 422 `msg`), the first for each field."""
    found: dict[str, str] = {}
    for error in errors:
        where = [part for part in error.get("loc", ()) if part not in ("body", "query")]
        field = str(where[0]) if where else "form"
        if error.get("type") == "number_type":
            # The API's words for a string where a JSON number goes; a form only has strings, so this is
            # text that is not a number, in pydantic's words for that.
            found.setdefault(field, "Input should be a valid number")
        found.setdefault(field, _readable(str(error.get("msg", ""))))
    return found


def _readable(message: str) -> str:
    # Pydantic puts "Value error, " before the API's own sentences; on a page it is noise.
    return message.removeprefix("Value error, ")


def errors_of(failure: ValidationError | RequestValidationError) -> dict[str, str]:
    return field_errors(failure.errors())


# ASCII digits only: a Unicode digit ("²", or U+0661, Arabic-Indic one) must reach the model as text it refuses
# beside the field, not as JSON no parser reads (an error about the whole form, which no field shows).
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def as_json_body(
    fields: Mapping[str, str], numbers: Sequence[str] = (), flags: Sequence[str] = (), kept: Sequence[str] = ()
) -> str:
    """The JSON body the API would be sent for these form fields, so the same model answers in the same words.

    A numeric field that reads as a JSON number goes as one, anything else as
    a string (which the model then refuses, as the API would); an empty field
    is left out, unless `kept` (a field emptied is then refused, not ignored); a flag (a checkbox) is true when sent.
    """
    members = []
    for name, text in fields.items():
        text = text.strip() if name in numbers else text
        if name in flags:
            value = "true" if text == "on" else "false"
        elif text == "" and name not in kept:
            continue
        elif name in numbers and _JSON_NUMBER.fullmatch(text):
            value = text  # as typed: 175.50 reaches the model as the JSON number 175.50, exactly
        else:
            value = json.dumps(text)
        members.append(f"{json.dumps(name)}:{value}")
    return "{" + ",".join(members) + "}"


def if_match_of(version: str) -> IfMatch | None:
    """The If-Match a holding's form sends as its hidden `version`; None when it names no version a row can have.

    Empty is any version, as PATCH without If-Match. Otherwise ASCII digits
    from 1 to PostgreSQL's integer maximum, as the page wrote it: `int()` would
    also read "²" or "٣", and a number beyond the column is a driver error.
    """
    if version == "":
        return ANY_VERSION
    if not (version.isascii() and version.isdigit()) or len(version) > len(str(INT32_MAX)):
        return None
    number = int(version)
    return IfMatch(any_version=False, versions=(number,)) if 1 <= number <= INT32_MAX else None
