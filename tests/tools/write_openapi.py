"""Write the OpenAPI document the app serves, once per AUTH mode, for the spec linter (make lint).

`python -m tests.tools.write_openapi DIR` writes DIR/openapi-open.json and
DIR/openapi-required.json, built in-process (no server, no database: the
document is made from the routes alone), exactly as GET /openapi.json answers it.
"""

import json
import sys
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from app.core.config import Settings
from app.main import create_app

Auth = Literal["open", "required"]
MODES: tuple[Auth, ...] = ("open", "required")


def openapi_document(auth: Auth) -> dict[str, object]:
    settings = Settings(
        _env_file=None,
        auth=auth,
        database_url="postgresql+psycopg://unused@localhost/unused",  # never connected: no lifespan runs
        secret_key=SecretStr("only-signs-nothing-while-the-document-is-written"),
    )
    return create_app(settings).openapi()


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for auth in MODES:
        (directory / f"openapi-{auth}.json").write_text(json.dumps(openapi_document(auth), indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
