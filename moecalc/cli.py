"""The command line: parse, call the library, render. Bad input -> one stderr line, exit 2."""

from __future__ import annotations

import functools
import sys
from typing import List, Optional

import typer

from moecalc import __version__
from moecalc.errors import MoecalcError

app = typer.Typer(add_completion=False, invoke_without_command=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="What it costs to serve a Mixture-of-Experts LLM: total parameters set the memory "
                       "floor, active parameters set the compute ceiling.")

FORMATS = ("table", "json", "csv")


# The router options estimate, compare, sweep and route share (one declaration each).
ROUTING = typer.Option(None, "--routing", help="uniform (default), zipf:S, dirichlet:ALPHA or file:PATH (per-expert counts)")
CAPACITY_FACTOR = typer.Option(None, "--capacity-factor", help="expert capacity C: at most C x tokens x k / E per expert per step")
OVERFLOW = typer.Option(None, "--overflow", help="tokens over capacity: drop (default) or reroute to the next-preferred expert")
SEED = typer.Option(None, "--seed", help="seed of the zipf placement, the Dirichlet draw and Monte Carlo traces (default 0)")
GROUPS = typer.Option(None, "--groups", help="group-limited routing G:M (a token's experts from M of G groups; "
                                             "DeepSeek-V3 8:4) or none; default: the model's")


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


def _format(value: str) -> str:
    if value not in FORMATS:
        raise MoecalcError(f"must be one of {', '.join(FORMATS)}, got {value!r}", field="--format")
    return value


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        typer.echo(f"moecalc: warning: {w}", err=True)


@app.command()
@one_line_errors
def estimate(
    spec: str = typer.Argument(..., help="YAML spec, config.json (or its folder), or a bundled model name"),
    context: str = typer.Option("4096", "--context", "-c", help="context length in tokens: 4096, 32k, 128K, 1M"),
    batch: str = typer.Option("1", "--batch", "-b", help="concurrent sequences"),
    weights_dtype: Optional[str] = typer.Option(None, "--weights-dtype", help="override the spec's weight dtype"),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="override the spec's KV cache dtype"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
    assume: List[str] = typer.Option([], "--assume", "-a", help="override an assumption: NAME=VALUE (repeatable)"),
    gpu: Optional[str] = typer.Option(None, "--gpu", "-g", help="serve on this GPU type (moecalc hardware lists them)"),
    gpus: Optional[str] = typer.Option(None, "--gpus", "-n", help="GPUs in the deployment (default: smallest that fits)"),
    gpus_per_node: Optional[str] = typer.Option(None, "--gpus-per-node", help="GPUs per scale-up domain (default: the GPU's)"),
    tp: Optional[str] = typer.Option(None, "--tp", help="tensor parallel size (attention, dense FFN, shared experts)"),
    ep: Optional[str] = typer.Option(None, "--ep", help="expert parallel size (default: tp x dp for MoE models)"),
    dp: Optional[str] = typer.Option(None, "--dp", help="data parallel size (attention replicas)"),
    pp: Optional[str] = typer.Option(None, "--pp", help="pipeline parallel stages"),
    redundant_experts: str = typer.Option("0", "--redundant-experts", help="replicated expert slots added to the routed ones"),
    max_nodes: Optional[str] = typer.Option(None, "--max-nodes-per-token", help="node-limited routing: at most M nodes per token"),
    scale_out: Optional[str] = typer.Option(None, "--scale-out", help="scale-out interconnect profile (e.g. roce-400g)"),
    hardware_file: Optional[str] = typer.Option(None, "--hardware-file", help="YAML with extra or overriding GPU and interconnect profiles"),
    price: Optional[str] = typer.Option(None, "--price-per-hour", help="USD per GPU-hour (overrides the profile's)"),
    dispatch_dtype: Optional[str] = typer.Option(None, "--dispatch-dtype", help="all-to-all dispatch payload: fp8, fp8-noscale, bf16"),
    combine_dtype: Optional[str] = typer.Option(None, "--combine-dtype", help="all-to-all combine payload: bf16, fp8, ..."),
    link_efficiency: Optional[str] = typer.Option(None, "--link-efficiency", help="share of link bandwidth achieved, scale-up and scale-out"),
    routing: Optional[str] = ROUTING,
    capacity_factor: Optional[str] = CAPACITY_FACTOR,
    overflow: Optional[str] = OVERFLOW,
    seed: Optional[str] = SEED,
    groups: Optional[str] = GROUPS,
) -> None:
    """Params (total vs active), weights, KV cache, FLOPs per token and VRAM floor of one model;
    with --gpu, per-GPU memory, all-to-all, TTFT/TPOT, throughput and $ per million tokens."""
    from dataclasses import replace

    from moecalc.assumptions import MODEL_ONLY, Assumptions, parse_assumption, with_overrides
    from moecalc.estimate import Workload
    from moecalc.estimate import estimate as run
    from moecalc.spec.load import load
    from moecalc.parsing import parse_count

    fmt = _format(fmt)
    workload = Workload(context=parse_count(context, "--context"), batch=parse_count(batch, "--batch"),
                        weights_dtype=weights_dtype, kv_dtype=kv_dtype)
    assumptions = with_overrides(Assumptions(), assume)
    shorthand = {}
    for option, names, value in (("--dispatch-dtype", ("dispatch_dtype",), dispatch_dtype),
                                 ("--combine-dtype", ("combine_dtype",), combine_dtype),
                                 ("--link-efficiency", ("scaleup_efficiency", "scaleout_efficiency"),
                                  link_efficiency)):
        if value is not None:
            shorthand[option] = {n: parse_assumption(n, value.strip(), option) for n in names}
    assumptions = replace(assumptions, **{k: v for parsed in shorthand.values() for k, v in parsed.items()})
    deployment, catalog = None, None
    layout_given = [o for o, v in (("--gpus", gpus), ("--tp", tp), ("--ep", ep), ("--dp", dp), ("--pp", pp),
                                   ("--gpus-per-node", gpus_per_node), ("--scale-out", scale_out),
                                   ("--price-per-hour", price), ("--max-nodes-per-token", max_nodes))
                    if v is not None] + list(shorthand)
    if redundant_experts != "0":
        layout_given.append("--redundant-experts")
    serving_assumed = [p.partition("=")[0].strip().replace("-", "_") for p in assume]
    serving_assumed = [n for n in serving_assumed if n not in MODEL_ONLY]
    if gpu is None and serving_assumed:
        layout_given.append(f"--assume {serving_assumed[0]}")
    if gpu is None and layout_given:
        raise MoecalcError(f"{layout_given[0]} needs --gpu", field="--gpu")
    if gpu is not None:
        from moecalc.hardware import load_catalog

        catalog = load_catalog(hardware_file)
        deployment = _deployment(gpu, gpus=gpus, gpus_per_node=gpus_per_node, tp=tp, ep=ep, dp=dp, pp=pp,
                                 price=price, redundant_experts=redundant_experts, max_nodes=max_nodes,
                                 scale_out=scale_out)
    elif hardware_file is not None:
        raise MoecalcError("--hardware-file needs --gpu", field="--gpu")
    rt = _routing(routing, capacity_factor, overflow, seed, groups)
    model, label = load(spec)
    result = run(model, workload, assumptions, label=label, deployment=deployment, catalog=catalog, routing=rt)
    _warn(result["warnings"])
    if fmt == "json":
        from moecalc.render.flat import to_json
        sys.stdout.write(to_json(result))
    elif fmt == "csv":
        from moecalc.render.flat import to_csv
        sys.stdout.write(to_csv(result))
    else:
        from moecalc.render.table import estimate_view, print_view
        print_view(estimate_view(result))


def _routing(routing, capacity_factor, overflow, seed, groups=None):
    from moecalc.routing_options import from_options

    return from_options(routing, capacity_factor, overflow, seed, groups=groups)


def _deployment(gpu: str, *, gpus=None, gpus_per_node=None, tp=None, ep=None, dp=None, pp=None, price=None,
                redundant_experts="0", max_nodes=None, scale_out=None):
    """A Deployment from the command-line texts of the layout options (errors name the option)."""
    from moecalc.deployment import Deployment
    from moecalc.parsing import parse_count, parse_price

    count = lambda v, f: None if v is None else parse_count(v, f)  # noqa: E731
    return Deployment(
        gpu=gpu, gpus=count(gpus, "--gpus"), gpus_per_node=count(gpus_per_node, "--gpus-per-node"),
        tp=count(tp, "--tp"), ep=count(ep, "--ep"), dp=count(dp, "--dp"), pp=count(pp, "--pp"),
        redundant_experts=parse_count(redundant_experts, "--redundant-experts", minimum=0),
        max_nodes_per_token=count(max_nodes, "--max-nodes-per-token"), scale_out=scale_out,
        price_per_hour=None if price is None else parse_price(price, "--price-per-hour"))


@app.command()
@one_line_errors
def compare(
    specs: List[str] = typer.Argument(..., help="models: YAML specs, config.json files or bundled names"),
    dense_equivalents: bool = typer.Option(False, "--dense-equivalents", "-d",
                                           help="add each MoE's dense twins: equal total and equal active params"),
    context: str = typer.Option("4096", "--context", "-c", help="context length in tokens"),
    batch: str = typer.Option("1", "--batch", "-b", help="concurrent sequences"),
    weights_dtype: Optional[str] = typer.Option(None, "--weights-dtype", help="override every model's weight dtype"),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="override every model's KV cache dtype"),
    gpu: Optional[str] = typer.Option(None, "--gpu", "-g", help="serve every model on this GPU type"),
    gpus: Optional[str] = typer.Option(None, "--gpus", "-n", help="GPUs (default: the smallest count that fits, per model)"),
    gpus_per_node: Optional[str] = typer.Option(None, "--gpus-per-node", help="GPUs per scale-up domain"),
    tp: Optional[str] = typer.Option(None, "--tp", help="tensor parallel size"),
    ep: Optional[str] = typer.Option(None, "--ep", help="expert parallel size (MoE models only)"),
    dp: Optional[str] = typer.Option(None, "--dp", help="data parallel size"),
    pp: Optional[str] = typer.Option(None, "--pp", help="pipeline stages"),
    price: Optional[str] = typer.Option(None, "--price-per-hour", help="USD per GPU-hour"),
    hardware_file: Optional[str] = typer.Option(None, "--hardware-file", help="YAML with extra or overriding profiles"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
    assume: List[str] = typer.Option([], "--assume", "-a", help="override an assumption: NAME=VALUE (repeatable)"),
    routing: Optional[str] = ROUTING,
    capacity_factor: Optional[str] = CAPACITY_FACTOR,
    overflow: Optional[str] = OVERFLOW,
    seed: Optional[str] = SEED,
    groups: Optional[str] = GROUPS,
) -> None:
    """Models side by side (MoE vs dense, MoE vs MoE): params, memory, KV, FLOPs, GPUs and cost."""
    from moecalc.assumptions import Assumptions, with_overrides
    from moecalc.compare import compare as run
    from moecalc.estimate import Workload
    from moecalc.hardware import load_catalog
    from moecalc.spec.load import load
    from moecalc.parsing import parse_count

    fmt = _format(fmt)
    workload = Workload(context=parse_count(context, "--context"), batch=parse_count(batch, "--batch"),
                        weights_dtype=weights_dtype, kv_dtype=kv_dtype)
    assumptions = with_overrides(Assumptions(), assume)
    given = [o for o, v in (("--gpus", gpus), ("--tp", tp), ("--ep", ep), ("--dp", dp), ("--pp", pp),
                            ("--gpus-per-node", gpus_per_node), ("--price-per-hour", price)) if v is not None]
    if gpu is None and given:
        raise MoecalcError(f"{given[0]} needs --gpu", field="--gpu")
    catalog = load_catalog(hardware_file)
    deployment = None if gpu is None else _deployment(gpu, gpus=gpus, gpus_per_node=gpus_per_node, tp=tp,
                                                      ep=ep, dp=dp, pp=pp, price=price)
    rt = _routing(routing, capacity_factor, overflow, seed, groups)
    models = [load(s) for s in specs]
    result = run(models, workload, assumptions, deployment, dense_equivalents, catalog, routing=rt)
    for m in result["models"]:
        _warn(m["warnings"])
    if fmt == "json":
        import json
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    elif fmt == "csv":
        from moecalc.render.flat import rows_to_csv
        sys.stdout.write(rows_to_csv(result["models"]))
    else:
        from moecalc.render.compare_table import print_compare
        print_compare(result)


@app.command()
@one_line_errors
def sweep(
    spec: str = typer.Argument(..., help="YAML spec, config.json (or its folder), or a bundled model name"),
    plan: Optional[str] = typer.Option(None, "--sweep", help="YAML file with the axes and constraints below"),
    gpu: Optional[str] = typer.Option(None, "--gpu", "-g", help="GPU types, comma-separated, or 'all' (default: all)"),
    gpus: Optional[str] = typer.Option(None, "--gpus", "-n", help="GPU counts: LIST or RANGE (default 1..64)"),
    gpus_per_node: Optional[str] = typer.Option(None, "--gpus-per-node", help="GPUs per node (default: each GPU's domain)"),
    tp: Optional[str] = typer.Option(None, "--tp", help="tensor parallel sizes (default 1,2,4,8)"),
    ep: Optional[str] = typer.Option(None, "--ep", help="expert parallel sizes, or auto (default)"),
    dp: Optional[str] = typer.Option(None, "--dp", help="data parallel sizes, or auto = gpus / (tp x pp) (default)"),
    pp: Optional[str] = typer.Option(None, "--pp", help="pipeline stages (default 1)"),
    batch: Optional[str] = typer.Option(None, "--batch", "-b", help="concurrent sequences (default 1..256)"),
    context: Optional[str] = typer.Option(None, "--context", "-c", help="context lengths (default 4096)"),
    weights_dtype: Optional[str] = typer.Option(None, "--weights-dtype", help="weight dtypes, comma-separated"),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="KV cache dtypes, comma-separated"),
    objective: Optional[str] = typer.Option(None, "--objective", help="cost (default), throughput or latency"),
    max_tpot_ms: Optional[str] = typer.Option(None, "--max-tpot-ms", help="keep rows with TPOT at most X ms"),
    max_ttft_ms: Optional[str] = typer.Option(None, "--max-ttft-ms", help="keep rows with TTFT at most X ms"),
    min_tokens_per_s: Optional[str] = typer.Option(None, "--min-tokens-per-s", help="keep deployments with at least X output tokens/s"),
    budget: Optional[str] = typer.Option(None, "--budget-usd-per-hour", help="keep deployments costing at most X USD/hour"),
    top: Optional[str] = typer.Option(None, "--top", help="rows to show (default 10)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="write every feasible row to FILE (.csv or .json)"),
    force: bool = typer.Option(False, "--force", help="overwrite --output if it exists"),
    redundant_experts: Optional[str] = typer.Option(None, "--redundant-experts", help="replicated expert slots"),
    max_nodes: Optional[str] = typer.Option(None, "--max-nodes-per-token", help="node-limited routing: at most M nodes per token"),
    scale_out: Optional[str] = typer.Option(None, "--scale-out", help="scale-out interconnect profile for every GPU"),
    price: Optional[str] = typer.Option(None, "--price-per-hour", help="USD per GPU-hour for every GPU type"),
    hardware_file: Optional[str] = typer.Option(None, "--hardware-file", help="YAML with extra or overriding profiles"),
    assume: List[str] = typer.Option([], "--assume", "-a", help="override an assumption: NAME=VALUE (repeatable)"),
    routing: Optional[str] = ROUTING,
    capacity_factor: Optional[str] = CAPACITY_FACTOR,
    overflow: Optional[str] = OVERFLOW,
    seed: Optional[str] = SEED,
    groups: Optional[str] = GROUPS,
) -> None:
    """Search GPU types x counts x layouts x batch x context x dtypes; rank, filter, frontier."""
    from moecalc.assumptions import Assumptions, with_overrides
    from moecalc.hardware import load_catalog
    from moecalc.spec.load import load
    from moecalc.sweep_cli import build_request, write_rows_atomically

    fmt = _format(fmt)
    options = dict(gpu=gpu, gpus=gpus, gpus_per_node=gpus_per_node, tp=tp, ep=ep, dp=dp, pp=pp, batch=batch,
                   context=context, weights_dtype=weights_dtype, kv_dtype=kv_dtype, objective=objective,
                   max_tpot_ms=max_tpot_ms, max_ttft_ms=max_ttft_ms, min_tokens_per_s=min_tokens_per_s,
                   budget_usd_per_hour=budget, top=top, redundant_experts=redundant_experts,
                   max_nodes_per_token=max_nodes, scale_out=scale_out, price_per_hour=price, routing=routing,
                   capacity_factor=capacity_factor, overflow=overflow, seed=seed, groups=groups)
    catalog = load_catalog(hardware_file)
    req = build_request(options, plan, catalog)
    assumptions = with_overrides(Assumptions(), assume)
    model, label = load(spec)
    from moecalc.sweep import run_sweep

    with write_rows_atomically(output, force) as on_rows, _progress() as on_progress:
        result = run_sweep(model, req.space, catalog, assumptions, req.constraints, req.objective, req.top,
                           on_progress=on_progress, on_rows=on_rows, label=label)
    if output is not None:
        typer.echo(f"wrote {result.summary['feasible']:,} feasible rows to {output}", err=True)
    if fmt == "json":
        import json
        sys.stdout.write(json.dumps({"summary": result.summary, "top": result.top, "pareto": result.pareto,
                                     "top_command": result.top_command, "why_none": result.why_none},
                                    indent=2) + "\n")
    elif fmt == "csv":
        from moecalc.render.flat import rows_to_csv
        sys.stdout.write(rows_to_csv(result.top))
    else:
        from moecalc.render.sweep_table import print_sweep
        print_sweep(result)


def _progress():
    """A progress bar on stderr for sweeps that run longer than a second."""
    import contextlib
    import time

    from rich.console import Console
    from rich.progress import Progress

    @contextlib.contextmanager
    def bar():
        start = time.perf_counter()
        state = {"progress": None}

        def update(done: int, total: int) -> None:
            if state["progress"] is None:
                if time.perf_counter() - start < 1.0 or done >= total:
                    return
                state["progress"] = Progress(console=Console(stderr=True), transient=True)
                state["progress"].start()
                state["task"] = state["progress"].add_task("sweeping", total=total)
            state["progress"].update(state["task"], completed=done)

        try:
            yield update
        finally:
            if state["progress"] is not None:
                state["progress"].stop()

    return bar()


@app.command()
@one_line_errors
def route(
    spec: str = typer.Argument(..., help="YAML spec, config.json (or its folder), or a bundled MoE model name"),
    tokens: str = typer.Option("4096", "--tokens", "-t", help="tokens to route in the trace"),
    gpu: str = typer.Option("h200", "--gpu", "-g", help="GPU type for the cost comparison"),
    gpus: Optional[str] = typer.Option(None, "--gpus", "-n", help="GPUs (default: --ep if given, else the smallest that fits)"),
    tp: Optional[str] = typer.Option(None, "--tp", help="tensor parallel size"),
    ep: Optional[str] = typer.Option(None, "--ep", help="expert parallel ranks the experts spread over"),
    dp: Optional[str] = typer.Option(None, "--dp", help="data parallel size"),
    redundant_experts: str = typer.Option("0", "--redundant-experts", help="replicate the hottest experts into R extra slots (EPLB)"),
    max_nodes: Optional[str] = typer.Option(None, "--max-nodes-per-token", help="node-limited routing: at most M nodes per token"),
    batch: str = typer.Option("64", "--batch", "-b", help="concurrent sequences for the cost comparison"),
    context: str = typer.Option("4096", "--context", "-c", help="context length for the cost comparison"),
    price: Optional[str] = typer.Option(None, "--price-per-hour", help="USD per GPU-hour"),
    hardware_file: Optional[str] = typer.Option(None, "--hardware-file", help="YAML with extra or overriding profiles"),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
    assume: List[str] = typer.Option([], "--assume", "-a", help="override an assumption: NAME=VALUE (repeatable)"),
    routing: Optional[str] = ROUTING,
    capacity_factor: Optional[str] = CAPACITY_FACTOR,
    overflow: Optional[str] = OVERFLOW,
    seed: Optional[str] = SEED,
    groups: Optional[str] = GROUPS,
) -> None:
    """A routing trace: per-expert and per-rank load, straggler, overflow, effective experts, and
    the change in TPOT and $/Mtok against uniform routing."""
    from moecalc.assumptions import Assumptions, with_overrides
    from moecalc.estimate import Workload
    from moecalc.hardware import load_catalog
    from moecalc.trace import trace
    from moecalc.spec.load import load
    from moecalc.parsing import parse_count

    if fmt not in ("table", "json"):
        raise MoecalcError(f"must be table or json, got {fmt!r}", field="--format")
    n_tokens = parse_count(tokens, "--tokens")
    workload = Workload(context=parse_count(context, "--context"), batch=parse_count(batch, "--batch"))
    assumptions = with_overrides(Assumptions(), assume)
    rt = _routing(routing, capacity_factor, overflow, seed, groups)
    catalog = load_catalog(hardware_file)
    if ep is not None and gpus is None and tp is None and dp is None:
        gpus = ep
    deployment = _deployment(gpu, gpus=gpus, tp=tp, ep=ep, dp=dp, price=price, redundant_experts=redundant_experts,
                             max_nodes=max_nodes)
    model, label = load(spec)
    result = trace(model, rt, n_tokens, deployment, workload, assumptions, catalog, label)
    if fmt == "json":
        import json
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        from moecalc.render.route_view import print_route
        print_route(result)


@app.command()
@one_line_errors
def hardware(
    hardware_file: Optional[str] = typer.Option(None, "--hardware-file", help="YAML with extra or overriding profiles"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
    interconnects: bool = typer.Option(False, "--interconnects", help="list interconnect profiles instead"),
) -> None:
    """Known GPUs (or interconnects) with memory, bandwidth, dense peak FLOPs, links and price."""
    from moecalc.listings import hardware_rows, interconnect_rows
    from moecalc.hardware import load_catalog

    fmt = _format(fmt)
    catalog = load_catalog(hardware_file)
    rows = interconnect_rows(catalog) if interconnects else hardware_rows(catalog)
    if fmt == "table":
        from moecalc.render.table import hardware_view, interconnects_view, print_view
        print_view(interconnects_view(rows) if interconnects else hardware_view(rows))
    else:
        _write_rows(rows, fmt)


def _write_rows(rows: list[dict], fmt: str) -> None:
    if fmt == "json":
        import json
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        import csv
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@app.command("import")
@one_line_errors
def import_config(
    config: str = typer.Argument(..., help="Hugging Face config.json, or the folder holding it"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="YAML file to write (default: stdout)"),
    name: Optional[str] = typer.Option(None, "--name", help="model name in the spec"),
    source: Optional[str] = typer.Option(None, "--source", help="source line (where the config came from)"),
) -> None:
    """Write the YAML spec equivalent to a Hugging Face config.json."""
    from moecalc.spec.convert import import_config as convert

    text = convert(config, name, source)
    if output is None:
        sys.stdout.write(text)
        return
    from moecalc.spec.convert import write_atomically

    write_atomically(output, text)
    typer.echo(f"wrote {output}", err=True)


@app.command()
@one_line_errors
def models(fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv")) -> None:
    """Bundled model specs with family, total and active parameters, and source."""
    from moecalc.listings import bundled_summary

    fmt = _format(fmt)
    rows = bundled_summary()
    if fmt == "table":
        from moecalc.render.table import models_view, print_view
        print_view(models_view(rows))
    else:
        _write_rows(rows, fmt)


@app.command()
def schema() -> None:
    """JSON Schema of the YAML model spec (for editor completion)."""
    import json

    from moecalc.spec.model import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: usage errors also become one line and exit code 2."""
    try:
        code = app(args=argv, prog_name="moecalc", standalone_mode=False)
    except MoecalcError as exc:                       # raised outside a command
        typer.echo(f"moecalc: error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("moecalc: aborted", err=True)
        sys.exit(1)
    except Exception as exc:
        code = getattr(exc, "exit_code", None)
        if code == 2 and hasattr(exc, "format_message"):   # click/typer usage error
            typer.echo(f"moecalc: error: {exc.format_message()}", err=True)
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)
