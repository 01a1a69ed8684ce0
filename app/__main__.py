"""`python -m app`: the command line in app/cli/ (`python -m app --help` lists the commands)."""

from app.cli import cli

if __name__ == "__main__":
    cli(prog_name="python -m app")
