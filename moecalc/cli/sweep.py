"""``moecalc sweep``: GPU types x counts x layouts x batch x context x dtypes, ranked."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from moecalc import options
from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors, warn, write_csv, write_json

Plan = Annotated[Optional[List[str]], typer.Option("--sweep", metavar="FILE", rich_help_panel="Search",
                                                   show_default=False,
                                                   help="YAML plan: these options under their names "
                                                        "(command-line options win)")]


@app.command(epilog=examples(
    "sweep deepseek-v3 --gpu h200,b200,mi325x --gpus 8..64 --batch 64..1024",
    "sweep mixtral-8x7b --gpu h100 --max-tpot-ms 50 --objective throughput",
    "sweep qwen3-235b-a22b --sweep plan.yaml --output rows.csv --force"))
@one_line_errors
@flags.takes(*options.SERVING, options.SearchOptions)
def sweep(
    ctx: typer.Context, spec: flags.Model, offline: flags.Offline = False, plan: Plan = None,
    format: flags.Format = None, output: flags.Output = None, force: flags.Force = False, plot: flags.Plot = None,
    **shared,
) -> None:
    """Search GPU types x counts x layouts x batch x context x dtypes; rank, filter, frontier.

    Every layout, workload and dtype option takes a list (1,2,4), a power-of-two range (1..64)
    or start:stop:step; --gpu takes a list or all. Defaults: every GPU, 1..64 GPUs, tp 1,2,4,8,
    pp 1, dp = gpus / (tp x pp), ep 1 and all (experts split by TP, and EP over the stage), batch
    1..256, context 4096."""
    from moecalc.files import row_writer
    from moecalc.render.progress import progress
    from moecalc.spec.load import load
    from moecalc.sweep import ROW_COLUMNS, run_sweep

    g = flags.given(ctx)
    if g.has("plan"):
        g = g.over(options.load_plan(g.text("plan")))
    fmt = flags.output_format(g)
    picture = flags.plot_path(g, force)
    catalog = options.catalog(g)
    req = options.sweep_request(g, catalog)
    assumptions = options.assumptions(g)
    model, label = load(spec, offline)
    out = g.text("output")
    with row_writer(out, force, ROW_COLUMNS) as on_rows, progress("sweeping") as on_progress:
        result = run_sweep(model, req.space, catalog, assumptions, req.constraints, req.objective, req.top,
                           on_progress=on_progress, on_rows=on_rows, label=label)
    warn(result.summary["warnings"])
    if out is not None:
        typer.echo(f"wrote {result.summary['feasible']:,} feasible rows to {out}", err=True)
    shown = g.parse("frontier", options.frontier_kind, "cost")
    data = {"model": {"name": model.name, "spec": label}, "summary": result.summary, "top": result.top,
            "pareto": result.pareto, "interactivity": result.interactivity,
            "interactivity_by_gpu": result.interactivity_by_gpu, "top_command": result.top_command,
            "why_none": result.why_none}
    flags.draw("sweep", data, picture, force)
    if fmt == "json":
        write_json(data)
    elif fmt == "csv":
        write_csv(result.interactivity if shown == "interactivity" else result.top)
    else:
        from moecalc.render.sweep_table import print_sweep
        print_sweep(result, frontier=shown)

