"""The typer application and what every command shares: one-line errors, writing results."""

from __future__ import annotations

import functools
import sys

import typer

from moecalc import __version__
from moecalc.errors import MoecalcError

app = typer.Typer(add_completion=False, invoke_without_command=True, pretty_exceptions_enable=False,
                  rich_markup_mode="rich", no_args_is_help=False,
                  help="What it costs to serve a Mixture-of-Experts LLM: total parameters set the memory "
                       "floor, active parameters set the compute ceiling.")


def fail(message: str) -> None:
    typer.echo(f"moecalc: error: {message}", err=True)
    raise typer.Exit(2)


def one_line_errors(fn):
    """Turn MoecalcError into one line on stderr and exit code 2; nothing reaches stdout."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MoecalcError as exc:
            fail(str(exc))

    return wrapper


def examples(*lines: str) -> str:
    """A command's epilog: its examples, one per paragraph (rich keeps them apart)."""
    return "Examples:\n\n" + "\n\n".join(f"  moecalc {line}" for line in lines)


def warn(warnings: list[str]) -> None:
    for w in warnings:
        typer.echo(f"moecalc: warning: {w}", err=True)


def write_json(data) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")   # NaN or inf: a bug, exit 1


def write_csv(rows: list[dict]) -> None:
    from moecalc.render.flat import rows_to_csv

    sys.stdout.write(rows_to_csv(rows))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moecalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """moecalc: MoE serving costs from a YAML spec or a Hugging Face config.json."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
