"""``moecalc compare``: models side by side, with an MoE's dense twins if asked."""

from __future__ import annotations

from typing import Annotated, List

import typer

from moecalc import options
from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors, warn, write_csv, write_json

Models = Annotated[List[str], typer.Argument(metavar="MODEL...", show_default=False,
                                             help="models: YAML specs, config.json files or bundled names")]
DenseEquivalents = Annotated[bool, typer.Option("--dense-equivalents", "-d", rich_help_panel="Models",
                                                help="add each MoE's dense twins: equal total and equal active params")]


@app.command(epilog=examples("compare mixtral-8x7b llama-3.1-70b",
                             "compare qwen3-30b-a3b --dense-equivalents --gpu h100",
                             "compare deepseek-v3 kimi-k2 --gpu h200 --context 32k --batch 64 --format json"))
@one_line_errors
@flags.takes(*options.SERVING)
def compare(
    ctx: typer.Context, specs: Models, dense_equivalents: DenseEquivalents = False,
    format: flags.Format = None, **shared,
) -> None:
    """Models side by side (MoE vs dense, MoE vs MoE): params, memory, KV, FLOPs, GPUs and cost;
    ratios to the first model."""
    from moecalc.compare import compare as run
    from moecalc.spec.load import load

    g = flags.given(ctx)
    fmt = flags.output_format(g)
    workload, assumptions = options.workload(g), options.assumptions(g)
    deployment = options.deployment(g)
    catalog = options.catalog(g)
    rt = options.routing(g)
    models = [load(s) for s in specs]
    result = run(models, workload, assumptions, deployment, dense_equivalents, catalog, routing=rt)
    for m in result["models"]:
        warn(m["warnings"])
    if fmt == "json":
        write_json(result)
    elif fmt == "csv":
        write_csv(result["models"])
    else:
        from moecalc.render.compare_table import print_compare
        print_compare(result)
