"""The command line: parse, call the library, render. Bad input -> one stderr line, exit 2.

One module per command; ``flags`` holds every option's typer alias, made from its declaration
in ``moecalc.options``.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from moecalc.cli import compare, estimate, import_config, listings, route, sweep, train  # noqa: F401  (registers)
from moecalc.cli.app import app
from moecalc.errors import MoecalcError

__all__ = ["app", "main"]


class _Terminated(BaseException):
    """SIGTERM as an exception, so that writers' cleanup runs as it does for Ctrl-C."""


def _exit_on_sigterm() -> None:
    import signal
    import threading

    def handler(signum, frame):
        raise _Terminated()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _named_command(argv: list[str]):
    """The registered command the line names (its first word that is not an option), or None.
    typer builds every registered command's parameters on each start (~60 ms for all nine);
    building only the one that runs gives the same parsing, help and errors for it."""
    first = next((a for a in argv if not a.startswith("-")), None)
    for info in app.registered_commands:
        if first is not None and (info.name or info.callback.__name__.replace("_", "-")) == first:
            return info
    return None


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: usage errors also become one line and exit code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    # pydantic looks for plugins in every installed distribution's entry points the first time a
    # model validates (~27 ms of a start); the CLI has no use for them, unless the user says so
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _exit_on_sigterm()
    named = _named_command(args)
    every = list(app.registered_commands)
    if named is not None:
        app.registered_commands[:] = [named]
    try:
        code = app(args=args, prog_name="moecalc", standalone_mode=False)
    except MoecalcError as exc:                       # raised outside a command
        typer.echo(f"moecalc: error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):   # Ctrl-C: every writer's finally has removed its temporary file
        typer.echo("moecalc: interrupted", err=True)
        sys.exit(130)
    except _Terminated:
        typer.echo("moecalc: terminated", err=True)
        sys.exit(143)
    except Exception as exc:
        code = getattr(exc, "exit_code", None)
        if code == 2 and hasattr(exc, "format_message"):   # click/typer usage error
            typer.echo(f"moecalc: error: {exc.format_message()}", err=True)
            sys.exit(2)
        raise
    finally:
        app.registered_commands[:] = every
    sys.exit(code if isinstance(code, int) else 0)
