"""``moecalc train``: what it costs to train a model (FLOPs, GPU-hours, days, dollars, energy) and
the memory per GPU of its layout."""

from __future__ import annotations

import sys

from typing import Annotated, Optional

import typer

from moecalc import options
from moecalc.cli import flags
from moecalc.cli.app import app, examples, one_line_errors


@app.command(epilog=examples("train deepseek-v3 --tokens 14.8T --gpu h800 --gpus 2048 --pp 16 --ep 64 --precision fp8",
                             "train llama-3.1-70b --tokens 15T --gpu h100 --gpus 1024 --tp 8 --pp 4 --seq-len 8192"))
@one_line_errors
@flags.takes(options.DeploymentOptions, options.TrainOptions)
def train(ctx: typer.Context, spec: flags.Model, offline: flags.Offline = False,
          tokens: Annotated[Optional[str], typer.Option("--tokens", metavar="TOKENS",
                                                        help="training tokens: 14.8T, 15.6T, 500B (decimal)")] = None,
          format: flags.Format = None, plot: flags.Plot = None, force: flags.Force = False, **shared) -> None:
    """Training FLOPs per token and in all, GPU-hours, days, dollars and energy at an MFU, and the
    per-GPU memory of parameters, gradients, optimizer states and activations."""
    from moecalc.spec.load import load
    from moecalc.train import train as run

    g = flags.given(ctx)
    fmt = flags.output_format(g)
    picture = flags.plot_path(g, force)
    request = options.train_request(g, tokens)
    model, label = load(spec, offline)
    result = run(model, request, options.catalog(g), label)
    flags.draw("train", result, picture, force)
    if fmt == "json":
        from moecalc.render.flat import to_json
        sys.stdout.write(to_json(result))
    elif fmt == "csv":
        from moecalc.render.flat import to_csv
        sys.stdout.write(to_csv(result))
    else:
        from moecalc.render.table import print_view, train_view
        print_view(train_view(result))
    for w in result["warnings"]:
        typer.echo(f"moecalc: warning: {w}", err=True)
