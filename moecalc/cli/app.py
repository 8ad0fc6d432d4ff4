"""The typer application and what every command shares: one-line errors, writing results."""

from __future__ import annotations

import functools
import sys

import typer

from moecalc import __version__
from moecalc.errors import MoecalcError

class _PlainValues:
    """Stands in for typer's pydantic ``TypeAdapter`` of a string, flag or list-of-strings option:
    a value that already is that type (what click hands over) is returned as the adapter would
    return it; anything else goes to typer's own adapter, built then."""

    def __init__(self, build, annotation, parameter_info):
        self._build, self._args, self._adapter = build, (annotation, parameter_info), None
        self._kind = annotation if annotation in (str, bool) else list

    def validate_python(self, value, *args, **kwargs):
        if self._kind is list:
            if isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
                return list(value)
        elif type(value) is self._kind:
            return value
        if self._adapter is None:
            self._adapter = self._build(*self._args)
        return self._adapter.validate_python(value, *args, **kwargs)


def _plain_values_without_pydantic() -> None:
    """typer (0.2x) builds a pydantic ``TypeAdapter`` for every option of the running command when
    it parses: 47 for ``estimate``, about 45 ms of a 330 ms run here, most of it pydantic's first
    validator (which imports importlib.metadata to look for plugins). moecalc's options are
    strings, flags and lists of strings that moecalc.options parses itself; for those typer gets
    ``_PlainValues``. An option with a ``parser`` or another type, or a typer without this hook,
    goes through typer unchanged."""
    from typing import get_args, get_origin

    try:
        from typer import _adapters
    except ImportError:
        return
    build = getattr(_adapters, "try_build_adapter", None)
    if build is None or getattr(build, "plain", False):
        return

    def try_build_adapter(annotation, parameter_info, *args, **kwargs):
        plain = annotation in (str, bool) or (get_origin(annotation) is list and get_args(annotation) == (str,))
        if args or kwargs or not plain or getattr(parameter_info, "parser", None) is not None:
            return build(annotation, parameter_info, *args, **kwargs)
        return _PlainValues(build, annotation, parameter_info)

    try_build_adapter.plain = True
    _adapters.try_build_adapter = try_build_adapter


_plain_values_without_pydantic()

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
