"""``moecalc route``: a routing trace and what its skew costs against uniform routing."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from moecalc import options
from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors, warn, write_json

Tokens = Annotated[Optional[List[str]], typer.Option("--tokens", "-t", metavar="N", rich_help_panel="Routing",
                                                     show_default=False,
                                                     help="tokens to route in the trace (default 4096)")]


@app.command(epilog=examples("route deepseek-v3 --routing zipf:1.2 --ep 32 --gpu h200",
                             "route qwen3-30b-a3b --routing dirichlet:0.5 --capacity-factor 1.25 --overflow reroute",
                             "route deepseek-v3 --routing zipf:1 --ep 32 --redundant-experts 32 --format json"))
@one_line_errors
@flags.takes(*options.SERVING)
def route(
    ctx: typer.Context, spec: flags.Model, offline: flags.Offline = False, tokens: Tokens = None,
    format: flags.Format = None, plot: flags.Plot = None, force: flags.Force = False, **shared,
) -> None:
    """A routing trace: per-expert and per-rank load, straggler, overflow, effective experts, and
    the change in TPOT and $/Mtok against uniform routing (on --gpu, default h200; batch 64;
    --ep alone sets the GPU count)."""
    from moecalc.render.progress import progress
    from moecalc.spec.load import load
    from moecalc.trace import trace

    g = flags.given(ctx)
    fmt = flags.output_format(g, ("table", "json"))
    picture = flags.plot_path(g, force)
    n_tokens = g.parse("tokens", options.count(), "4096")
    workload, assumptions = options.workload(g, batch="64"), options.assumptions(g)
    rt = options.routing(g)
    catalog = options.catalog(g)
    deployment = options.deployment(g, gpu="h200")     # trace() applies route_deployment
    model, label = load(spec, offline)
    with progress("routing tokens") as on_progress:
        result = trace(model, rt, n_tokens, deployment, workload, assumptions, catalog, label, on_progress)
    warn(result["warnings"])
    flags.draw("route", result, picture, force)
    if fmt == "json":
        write_json(result)
    else:
        from moecalc.render.route_view import print_route
        print_route(result)
