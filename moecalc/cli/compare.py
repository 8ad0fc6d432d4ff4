"""``moecalc compare``: models side by side, with an MoE's dense twins if asked."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from moecalc import options
from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors, warn, write_csv, write_json

Models = Annotated[List[str], typer.Argument(metavar="MODEL...", show_default=False,
                                             help="models: YAML specs, config.json files or bundled names")]
DenseEquivalents = Annotated[bool, typer.Option("--dense-equivalents", "-d", rich_help_panel="Models",
                                                help="add each MoE's dense twins: equal total and equal active params")]
Train = Annotated[bool, typer.Option("--train", rich_help_panel="Models",
                                     help="compare training cost (with --tokens; --gpu and --gpus default to 1024 "
                                          "H100s) instead of serving")]
Tokens = Annotated[Optional[str], typer.Option("--tokens", metavar="TOKENS", rich_help_panel="Models",
                                               help="training tokens: 14.8T, 15.6T, 500B (decimal)")]


@app.command(epilog=examples("compare mixtral-8x7b llama-3.1-70b",
                             "compare qwen3-30b-a3b --dense-equivalents --gpu h100",
                             "compare deepseek-v3 kimi-k2 --gpu h200 --context 32k --batch 64 --format json"))
@one_line_errors
@flags.takes(*options.SERVING, options.TrainOptions)
def compare(
    ctx: typer.Context, specs: Models, offline: flags.Offline = False, dense_equivalents: DenseEquivalents = False,
    train: Train = False,
    tokens: Tokens = None, format: flags.Format = None, plot: flags.Plot = None, force: flags.Force = False,
    **shared,
) -> None:
    """Models side by side (MoE vs dense, MoE vs MoE): params, memory, KV, FLOPs, GPUs and cost;
    ratios to the first model."""
    from moecalc.compare import compare as run
    from moecalc.render.progress import progress
    from moecalc.spec.load import load

    g = flags.given(ctx)
    fmt = flags.output_format(g)
    if train or tokens is not None:
        if g.has("plot"):
            from moecalc.errors import MoecalcError

            raise MoecalcError("draws compare without --train; plot one model with train --plot", field="--plot")
        return _compare_training(g, fmt, specs, dense_equivalents, train, tokens, offline)
    given = [n for n in options.TrainOptions.model_fields if g.has(n)]
    if given:
        from moecalc.errors import MoecalcError

        raise MoecalcError("needs --train", field=options.flag(given[0]))
    picture = flags.plot_path(g, force)
    workload, assumptions = options.workload(g), options.assumptions(g)
    deployment = options.deployment(g)
    catalog = options.catalog(g)
    rt = options.routing(g)
    models = [load(s, offline) for s in specs]
    with progress("comparing") as on_progress:
        result = run(models, workload, assumptions, deployment, dense_equivalents, catalog, routing=rt,
                     on_progress=on_progress)
    for m in result["models"]:
        warn(m["warnings"])
    flags.draw("compare", result, picture, force)
    if fmt == "json":
        write_json(result)
    elif fmt == "csv":
        write_csv(result["models"])
    else:
        from moecalc.render.compare_table import print_compare
        print_compare(result)


def _compare_training(g, fmt, specs, dense_equivalents: bool, train: bool, tokens, offline: bool) -> None:
    from moecalc.errors import MoecalcError
    from moecalc.spec.load import load
    from moecalc.train import compare_training

    if not train:
        raise MoecalcError("--tokens compares training cost: add --train", field="--train")
    request = options.train_request(g, tokens, {"gpu": "h100", "gpus": "1024"})
    result = compare_training([load(s, offline) for s in specs], request, options.catalog(g), dense_equivalents)
    if fmt == "json":
        write_json(result)
    elif fmt == "csv":
        write_csv(result["models"])
    else:
        from moecalc.render.table import print_view, train_compare_view
        print_view(train_compare_view(result))
