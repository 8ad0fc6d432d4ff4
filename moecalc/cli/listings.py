"""``moecalc hardware``, ``moecalc models`` and ``moecalc schema``: what moecalc knows."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors, write_json

Interconnects = Annotated[bool, typer.Option("--interconnects", help="list interconnect profiles instead")]
Hosts = Annotated[bool, typer.Option("--hosts", help="list host profiles (CPUs and system memory, for --host) instead")]


def _write_rows(rows: list[dict], fmt: str) -> None:
    if fmt == "json":
        write_json(rows)
    else:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@app.command(epilog=examples("hardware", "hardware --interconnects", "hardware --hosts",
                             "hardware --hardware-file my-gpus.yaml --format json"))
@one_line_errors
def hardware(ctx: typer.Context, hardware_file: flags.HardwareFile = None, interconnects: Interconnects = False,
             hosts: Hosts = False, format: flags.Format = None) -> None:
    """Known GPUs (or interconnects, or hosts) with memory, bandwidth, peak FLOPs, links and price."""
    from moecalc import options
    from moecalc.listings import hardware_rows, host_rows, interconnect_rows

    g = flags.given(ctx)
    fmt = flags.output_format(g)
    catalog = options.catalog(g)
    rows = interconnect_rows(catalog) if interconnects else host_rows(catalog) if hosts else hardware_rows(catalog)
    if fmt == "table":
        from moecalc.render.table import hardware_view, hosts_view, interconnects_view, print_view
        print_view(interconnects_view(rows) if interconnects else hosts_view(rows) if hosts else hardware_view(rows))
    else:
        _write_rows(rows, fmt)


@app.command(epilog=examples("models", "models --format csv"))
@one_line_errors
def models(ctx: typer.Context, format: flags.Format = None) -> None:
    """Bundled model specs with family, total and active parameters, and source."""
    from moecalc.listings import bundled_summary

    fmt = flags.output_format(flags.given(ctx))
    rows = bundled_summary()
    if fmt == "table":
        from moecalc.render.table import models_view, print_view
        print_view(models_view(rows))
    else:
        _write_rows(rows, fmt)


@app.command(epilog=examples("schema > moecalc-spec.schema.json"))
def schema() -> None:
    """JSON Schema of the YAML model spec (for editor completion)."""
    from moecalc.spec.model import json_schema

    write_json(json_schema())
