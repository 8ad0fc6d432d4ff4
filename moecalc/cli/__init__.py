"""The command line: parse, call the library, render. Bad input -> one stderr line, exit 2.

One module per command; ``flags`` holds every option's typer alias, made from its declaration
in ``moecalc.options``.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from moecalc.cli import compare, estimate, import_config, listings, route, sweep, train  # noqa: F401  (registers)
from moecalc.cli.app import app
from moecalc.errors import MoecalcError

__all__ = ["app", "main"]


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: usage errors also become one line and exit code 2."""
    try:
        code = app(args=argv, prog_name="moecalc", standalone_mode=False)
    except MoecalcError as exc:                       # raised outside a command
        typer.echo(f"moecalc: error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("moecalc: aborted", err=True)
        sys.exit(1)
    except Exception as exc:
        code = getattr(exc, "exit_code", None)
        if code == 2 and hasattr(exc, "format_message"):   # click/typer usage error
            typer.echo(f"moecalc: error: {exc.format_message()}", err=True)
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)
