"""Every command-line option as a typer ``Annotated`` alias, made from its one declaration in
``moecalc.options`` (help, metavar, short aliases, help panel). A command lists the aliases it
takes; ``given(ctx)`` hands what was typed to the library's parsers.

Value options are declared ``multiple`` so that an option typed twice is an error
(``Given.command_line``) rather than silently the last one.
"""

from __future__ import annotations

import inspect
from typing import Annotated, List, Optional

import typer

from moecalc.options import DECLARED, Given, flag

Values = Optional[List[str]]


def _option(name: str):
    f, group = DECLARED[name]
    extra = f.json_schema_extra
    return typer.Option(flag(name), *extra["aliases"], help=f.description, metavar=extra["metavar"],
                        rich_help_panel=group.panel, show_default=False)


def given(ctx: typer.Context) -> Given:
    """The options the user typed, by name (arguments are the command's own business)."""
    from typer.core import TyperArgument

    names = {p.name for p in ctx.command.params if not isinstance(p, TyperArgument)}
    return Given.command_line({k: v for k, v in ctx.params.items() if k in names})


Model = Annotated[str, typer.Argument(metavar="MODEL", show_default=False,
                                      help="YAML spec, config.json, a checkpoint folder, a GGUF file, a Hugging "
                                           "Face hub id (org/name\\[@revision]) or a bundled model name")]
Offline = Annotated[bool, typer.Option("--offline", rich_help_panel="Models",
                                       help="hub ids from the local Hugging Face cache only, never the network "
                                            "(as HF_HUB_OFFLINE=1)")]

OPTIONS = {name: Annotated[Values, _option(name)] for name in DECLARED}
"""option name -> its typer alias (``Annotated[list of texts, typer.Option(...)]``)."""
HardwareFile = OPTIONS["hardware_file"]


def takes(*groups):
    """Give a command every option of ``groups`` (``moecalc.options``), after its own
    parameters and before its output options; the command reads them through ``given(ctx)``
    and takes them as ``**options``."""
    def decorate(fn):
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        output = [p for p in own if p.name in ("format", "output", "force")]
        own = [p for p in own if p not in output]
        shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=OPTIONS[name])
                  for group in groups for name in group.model_fields]
        params = own + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in output]
        params[len(own):len(own)] = shared
        fn.__signature__ = sig.replace(parameters=params)
        fn.__annotations__ = {p.name: p.annotation for p in params}
        return fn
    return decorate


# Output
FORMATS = ("table", "json", "csv")
Format = Annotated[Values, typer.Option("--format", "-f", metavar="FORMAT", rich_help_panel="Output",
                                        show_default=False, help="table (default), json or csv")]
Output = Annotated[Values, typer.Option("--output", "-o", metavar="FILE", rich_help_panel="Output",
                                        show_default=False, help="write to FILE (an existing one only with --force)")]
Force = Annotated[bool, typer.Option("--force", rich_help_panel="Output",
                                     help="replace --output or --plot if it exists")]
Plot = Annotated[Values, typer.Option("--plot", metavar="FILE", rich_help_panel="Output", show_default=False,
                                      help="draw the result into FILE.png or FILE.svg (needs moecalc\\[plot]); "
                                           "its numbers are the JSON's")]


def plot_path(g, force: bool) -> str | None:
    """--plot's file, checked before the work (a refused file costs nothing)."""
    path = g.text("plot")
    if path is not None:
        from moecalc.render.plot import check_path

        check_path(path, force)
    return path


def draw(kind: str, result: dict, path: str | None, force: bool) -> None:
    """Write --plot's picture of ``result`` (what --format json prints)."""
    if path is not None:
        from moecalc.render.plot import save

        save(kind, result, path, force)
        typer.echo(f"wrote {path}", err=True)


def output_format(g: Given, formats: tuple[str, ...] = FORMATS) -> str:
    from moecalc.errors import MoecalcError

    value = g.text("format", "table")
    if value not in formats:
        raise MoecalcError(f"must be one of {', '.join(formats)}, got {value!r}", field="--format")
    return value
