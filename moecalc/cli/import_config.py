"""``moecalc import``: a Hugging Face config.json as a moecalc YAML spec."""

from __future__ import annotations

import sys
from typing import Annotated, List, Optional

import typer

from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors

Config = Annotated[str, typer.Argument(metavar="CONFIG", show_default=False,
                                       help="Hugging Face config.json, the folder holding it, or a Hub id "
                                            "(org/name\\[@revision])")]
Name = Annotated[Optional[List[str]], typer.Option("--name", metavar="NAME", show_default=False,
                                                   help="model name in the spec")]
Source = Annotated[Optional[List[str]], typer.Option("--source", metavar="TEXT", show_default=False,
                                                     help="source line (where the config came from)")]


@app.command("import", epilog=examples("import path/to/config.json", "import ./my-model -o my-model.yaml --force"))
@one_line_errors
def import_config(ctx: typer.Context, config: Config, output: flags.Output = None, force: flags.Force = False,
                  name: Name = None, source: Source = None, offline: flags.Offline = False) -> None:
    """Write the YAML spec equivalent to a Hugging Face config.json (stdout, or --output)."""
    from moecalc.files import check_writable
    from moecalc.convert import import_config as convert, write_atomically

    g = flags.given(ctx)
    out = g.text("output")
    if out is not None:
        check_writable(out, force)      # before the work, so a refused file costs nothing
    text = convert(config, g.text("name"), g.text("source"), offline)
    if out is None:
        sys.stdout.write(text)
        return
    write_atomically(out, text, force)
    typer.echo(f"wrote {out}", err=True)
