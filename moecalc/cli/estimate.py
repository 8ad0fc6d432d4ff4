"""``moecalc estimate``: every number of one model and one workload, served on a GPU if asked."""

from __future__ import annotations

import sys

import typer

from moecalc import options
from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors, warn


@app.command(epilog=examples("estimate deepseek-v3",
                             "estimate mixtral-8x7b --gpu h100 --context 32k --batch 16",
                             "estimate deepseek-v3 --gpu h200 --gpus 16 --tp 8 --ep 16 --scale-out ib-ndr-400g",
                             "estimate qwen3-30b-a3b --gpu h100 --routing zipf:1.2 --format json",
                             "estimate qwen3-30b-a3b --weights-dtype q4_k_m --gpu rtx4090 --host desktop-ddr5"))
@one_line_errors
@flags.takes(*options.SERVING, options.PoolOptions, options.LocalOptions)
def estimate(
    ctx: typer.Context, spec: flags.Model, offline: flags.Offline = False,
    format: flags.Format = None, plot: flags.Plot = None, force: flags.Force = False, **shared,
) -> None:
    """Params (total vs active), weights, KV cache, FLOPs per token and VRAM floor of one model;
    with --gpu, per-GPU memory, all-to-all, TTFT/TPOT, throughput and $ per million tokens."""
    from moecalc.estimate import estimate as run
    from moecalc.spec.load import load

    g = flags.given(ctx)
    fmt = flags.output_format(g)
    picture = flags.plot_path(g, force)
    workload, assumptions = options.workload(g), options.assumptions(g)
    deployment = options.deployment(g)
    if deployment is None and g.has("hardware_file"):
        from moecalc.errors import MoecalcError

        raise MoecalcError("--hardware-file needs --gpu", field="--gpu")
    catalog = options.catalog(g) if deployment is not None else None
    rt = options.routing(g)
    pool, prefill_batch = options.prefill_pool(g, deployment)
    local = options.local(g, deployment)
    model, label = load(spec, offline)
    if local is not None:
        from moecalc.offload import local_estimate

        result = local_estimate(model, workload, assumptions, local, catalog, label, routing=rt)
    elif pool is not None:
        from moecalc.disaggregated import disaggregated

        result = disaggregated(model, workload, assumptions, label, deployment, pool, catalog, routing=rt,
                               prefill_batch=prefill_batch)
    else:
        result = run(model, workload, assumptions, label=label, deployment=deployment, catalog=catalog, routing=rt)
    warn(result["warnings"])
    flags.draw("estimate", result, picture, force)
    if fmt == "json":
        from moecalc.render.flat import to_json
        sys.stdout.write(to_json(result))
    elif fmt == "csv":
        from moecalc.render.flat import to_csv
        sys.stdout.write(to_csv(result))
    else:
        from moecalc.render.table import estimate_view, print_view
        print_view(estimate_view(result))
