"""A failure's reason in one line, for a log line or a message: libpq, pg_dump and psql write several."""


def one_line(failure: BaseException | str | None) -> str:
    """The line that says what went wrong: the first naming an error, else the first; "" when there is none."""
    lines = [line.strip() for line in str(failure or "").splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
