"""The options every serving command shares, declared once.

Each group is a pydantic model whose fields are the options' texts, with their help and metavar
as field metadata: ``moecalc.cli.flags`` turns them into typer options (one help panel per
group), and ``SweepPlan`` (all groups together) is the schema of a ``--sweep`` plan file. What
the user gave is a ``Given``: option texts by name, each knowing where it came from (the command
line or a plan file's line), so every error names the option or ``file:line: key``. The parsers
below turn a ``Given`` into the library's inputs: a ``Workload``, a ``Deployment``, a
``Routing``, ``Assumptions`` and, for the sweep, its ``Space`` and ``Constraints``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from moecalc.errors import MoecalcError


def _as_text(value: Any) -> Any:
    """Plan-file values as the command line would give them: 4 -> "4", [1, 2] -> "1,2"."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    return value


Text = Annotated[Optional[str], BeforeValidator(_as_text)]


def option(help: str, metavar: str, *aliases: str, repeatable: bool = False):
    """An option's declaration: its help, its metavar and short aliases (``-c``)."""
    return Field([] if repeatable else None, description=help,
                 json_schema_extra={"metavar": metavar, "aliases": list(aliases), "repeatable": repeatable})


class OptionGroup(BaseModel):
    """Options shown together under one help panel."""
    # defer_build: the groups are declarations read at every start; only a sweep plan is
    # validated against one, and only then is its schema built (~30 ms of a start otherwise)
    model_config = ConfigDict(extra="forbid", defer_build=True)
    panel: ClassVar[str]


class WorkloadOptions(OptionGroup):
    panel = "Workload"
    context: Text = option("context length in tokens: 4096, 32k, 128K, 1M (default 4096)", "TOKENS", "-c")
    batch: Text = option("concurrent sequences decoding together (default 1; route: 64)", "N", "-b")
    isl: Text = option("input (prompt) tokens per request: a request workload (vLLM's benchmark names)", "N")
    osl: Text = option("output tokens per request", "N")
    mode: Text = option("with --isl/--osl: continuous (default; chunked prefill), static (prefill then decode "
                        "together), prefill or decode (one pool of a disaggregated deployment), or (estimate) "
                        "disaggregated (both pools)", "MODE")
    mtp: Text = option("MTP speculative decoding: N draft tokens per step from the model's MTP modules", "N")
    weights_dtype: Text = option("weight dtype, overriding the spec's: bf16, fp8, int4, mxfp4, ...; or per "
                                 "component: routed_experts=nvfp4,attention=bf16", "DTYPE")
    kv_dtype: Text = option("KV cache dtype, overriding the spec's: bf16, fp8, ...", "DTYPE")


class DeploymentOptions(OptionGroup):
    panel = "Deployment"
    gpu: Text = option("GPU type to serve on (moecalc hardware lists them)", "GPU", "-g")
    gpus: Text = option("GPUs in the deployment (default: the smallest count that fits)", "N", "-n")
    gpus_per_node: Text = option("GPUs per scale-up domain (default: the GPU's)", "N")
    tp: Text = option("tensor parallel size: attention, dense FFN and shared experts", "N")
    ep: Text = option("expert parallel size, or 'all' for every GPU of a stage (vLLM --enable-expert-parallel); "
                      "default 1: each expert split over tp x dp by TP, as vLLM and SGLang do (a sweep tries 1 and all)",
                      "N")
    dp: Text = option("data parallel size: attention replicas (default: gpus / (tp x pp))", "N")
    pp: Text = option("pipeline parallel stages (default 1)", "N")
    redundant_experts: Text = option("replicated expert slots added to the routed ones (EPLB; default 0)", "N")
    max_nodes_per_token: Text = option("node-limited routing: a token's experts on at most M nodes", "M")
    scale_out: Text = option("scale-out interconnect profile, overriding the GPU's NIC (e.g. roce-400g)", "LINK")
    price_per_hour: Text = option("USD per GPU-hour, overriding the profile's", "USD")
    hardware_file: Text = option("YAML with extra or overriding GPU and interconnect profiles", "FILE")


class RoutingOptions(OptionGroup):
    panel = "Routing"
    routing: Text = option("router: uniform (default), zipf:S, dirichlet:ALPHA or file:PATH (per-expert counts)",
                           "ROUTER")
    capacity_factor: Text = option("expert capacity C: at most C x tokens x k / E per expert per step", "C")
    overflow: Text = option("tokens over capacity: drop (default) or reroute to the next-preferred expert", "POLICY")
    seed: Text = option("seed of the zipf placement, the Dirichlet draw and Monte Carlo traces (default 0)", "N")
    groups: Text = option("group-limited routing G:M (a token's experts from M of G groups; DeepSeek-V3 8:4) "
                          "or none (default: the model's)", "G:M")


class AssumptionOptions(OptionGroup):
    panel = "Assumptions"
    assume: list[str] = option("override an assumption, NAME=VALUE (repeatable; the output lists them all)",
                               "NAME=VALUE", "-a", repeatable=True)
    dispatch_dtype: Text = option("all-to-all dispatch payload: fp8 (default), fp8-noscale, bf16", "DTYPE")
    combine_dtype: Text = option("all-to-all combine payload: bf16 (default), fp8, ...", "DTYPE")
    link_efficiency: Text = option("achieved share of link bandwidth, scale-up and scale-out alike", "FRACTION")
    mtp_acceptance: Text = option("chance each MTP draft token is accepted (default 0.85, DeepSeek-V3 report)",
                                  "P")
    max_num_batched_tokens: Text = option("tokens in one forward pass, prefill chunks included (vLLM's name; "
                                          "default 8192)", "N")
    gpu_memory_utilization: Text = option("share of GPU memory the serving stack may fill (default 0.9)",
                                          "FRACTION")


class PoolOptions(OptionGroup):
    panel = "Disaggregated"
    prefill_gpu: Text = option("--mode disaggregated: the prefill pool's GPU type (default: --gpu)", "GPU")
    prefill_gpus: Text = option("... its GPU count (required for disaggregated)", "N")
    prefill_tp: Text = option("... its tensor parallel size", "N")
    prefill_ep: Text = option("... its expert parallel size", "N")
    prefill_dp: Text = option("... its data parallel size (attention replicas)", "N")
    prefill_batch: Text = option("... prompts per prefill forward (default: one --max-num-batched-tokens chunk "
                                 "per replica)", "N")


class LocalOptions(OptionGroup):
    panel = "Local and offloaded"
    host: Text = option("host (CPUs and system memory) holding offloaded weights: moecalc hardware --hosts", "HOST")
    offload: Text = option("none, auto (the fewest MoE layers in host memory that fit; default with --host), "
                           "experts (every routed expert in host memory), experts:N (llama.cpp's --n-cpu-moe N) or "
                           "layers:N (N whole layers on the CPU: llama.cpp's -ngl)", "RULE")
    expert_compute: Text = option("where offloaded experts run: cpu (default; ktransformers, llama.cpp) or gpu "
                                  "(streamed over PCIe)", "WHERE")
    gpu_expert_cache: Text = option("keep the N hottest experts of each offloaded layer on the GPU; their hit rate "
                                    "follows --routing (uniform: N / E)", "N")


class TrainOptions(OptionGroup):
    panel = "Training"
    seq_len: Text = option("sequence length of training (default 4096)", "TOKENS")
    precision: Text = option("matrix-multiply precision: bf16 (default) or fp8 (weights still have bf16 masters)",
                             "DTYPE")
    train_mfu: Text = option("model FLOPs utilization against the BF16 dense peak (default 0.40: Llama 3 405B's "
                             "38-43%)", "FRACTION", "--mfu")
    recompute: Text = option("activation recomputation: selective (default: attention's core recomputed, as "
                                            "flash attention does anyway) or full (each layer's input only)", "KIND")
    cp: Text = option("context parallel size: each sequence split over CP GPUs (default 1)", "N")
    vp: Text = option("virtual pipeline stages a GPU: interleaved 1F1B, the bubble over VP (default 1)", "N")
    zero: Text = option("ZeRO stage sharding over data parallel: 0 none, 1 optimizer states (default; Megatron's "
                        "distributed optimizer), 2 and gradients, 3 and weights", "STAGE")
    micro_batch: Text = option("sequences per micro-batch (default 1)", "N")
    global_batch: Text = option("tokens per optimizer step (default 4M)", "TOKENS")
    pue: Text = option("data-center power usage effectiveness for energy (default 1.2)", "X")
    train_overlap: Text = option("share of the all-to-all and gradient traffic the schedule hides under compute, "
                                 "for the step bound (default 0: Megatron 1F1B; DeepSeek-V3's DualPipe: 1)", "FRACTION")


class SearchOptions(OptionGroup):
    panel = "Search"
    objective: Text = option("rank by cost ($/Mtok, default), throughput (per GPU), latency (TPOT) or "
                             "request-cost ($/request)", "OBJECTIVE")
    max_tpot_ms: Text = option("keep rows with TPOT at most X ms", "X")
    max_ttft_ms: Text = option("keep rows with TTFT at most X ms", "X")
    min_tokens_per_s: Text = option("keep deployments with at least X output tokens/s", "X")
    budget_usd_per_hour: Text = option("keep deployments costing at most X USD/hour", "X")
    top: Text = option("rows to show (default 10)", "N")
    min_tokens_per_user: Text = option("keep rows where a request sees at least X output tokens/s (1 / TPOT)", "X")
    frontier: Text = option("the frontier the table and CSV show: cost ($/Mtok vs TPOT, default) or "
                            "interactivity (output tokens/s per GPU vs per user); JSON has both", "KIND")


SERVING = (WorkloadOptions, DeploymentOptions, RoutingOptions, AssumptionOptions)
"""The groups estimate, compare, sweep and route all take."""


class SweepPlan(WorkloadOptions, DeploymentOptions, RoutingOptions, AssumptionOptions, SearchOptions):
    """A ``--sweep`` plan file: the sweep's options under their names (``_`` for ``-``); a list
    where the command line takes a comma-separated one."""


DECLARED = {name: (f, group) for group in (*SERVING, PoolOptions, LocalOptions, TrainOptions, SearchOptions)
            for name, f in group.model_fields.items()}
"""option name -> (its pydantic field, its group): the one declaration of every shared option."""


def flag(name: str) -> str:
    """The command-line spelling of an option: ``gpus_per_node`` -> ``--gpus-per-node``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Given:
    """Option texts by name, and where each came from: the command line (errors name ``--flag``)
    or a plan file (errors name ``file:line: key``)."""
    texts: dict[str, Any] = field(default_factory=dict)
    file: str | None = None                          # the plan file the non-command-line texts came from
    lines: dict[str, int | None] = field(default_factory=dict)   # names read from the plan -> their line

    @classmethod
    def command_line(cls, params: dict[str, Any]) -> "Given":
        """The options typed (None and [] are 'not given'). Every option but the repeatable ones
        is given at most once: ``--gpu h100 --gpu h200`` is an error, not the last one."""
        texts = {}
        for name, value in params.items():
            if isinstance(value, (list, tuple)):
                repeatable = name in DECLARED and DECLARED[name][0].json_schema_extra["repeatable"]
                if not value:
                    continue
                if len(value) > 1 and not repeatable:
                    raise MoecalcError(f"given {len(value)} times ({', '.join(map(str, value))}); give it once"
                                       + (" (a sweep takes a comma-separated list)" if name in DECLARED else ""),
                                       field=flag(name))
                value = list(value) if repeatable else value[0]
            if value is not None:
                texts[name] = value
        return cls(texts)

    def over(self, plan: "Given") -> "Given":
        """These options over a plan file's: the command line wins."""
        lines = {k: v for k, v in plan.lines.items() if k not in self.texts}
        return Given({**plan.texts, **self.texts}, plan.file, lines)

    def has(self, name: str) -> bool:
        return name in self.texts

    def text(self, name: str, default: Any = None) -> Any:
        """The option's text; ``default`` only when it was not given at all ('' is a value)."""
        return self.texts.get(name, default)

    def field(self, name: str) -> str:
        return name if name in self.lines else flag(name)

    def located(self, exc: MoecalcError, name: str) -> MoecalcError:
        """``exc`` with the file and line of option ``name`` when it came from the plan file."""
        if name in self.lines:
            exc.field = name if exc.field in (None, flag(name)) else exc.field
            return exc.with_context(file=self.file, line=self.lines[name])
        return exc

    def parse(self, name: str, parser, default: Any = None):
        """``parser(text, field)`` on the option's text (or ``default`` when not given; None stays
        None); its errors gain the plan file and line when the text came from there."""
        text = self.text(name, default)
        if text is None:
            return None
        try:
            return parser(text, self.field(name))
        except MoecalcError as exc:
            raise self.located(exc, name) from None


def load_plan(path: str) -> Given:
    """A ``--sweep`` plan file as the options it gives, each with its line."""
    from moecalc.spec.load import read_text, validation_error
    from moecalc.spec.yaml_io import node_line, parse_yaml

    text = read_text(Path(path), path, what="a sweep plan")
    data, root = parse_yaml(text, path)
    if not isinstance(data, dict):
        raise MoecalcError(f"top level must be a mapping of sweep options, not {type(data).__name__}", file=path)
    try:
        plan = SweepPlan.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, root) from None
    texts = {k: v for k, v in plan.model_dump().items() if v not in (None, [])}
    return Given(texts, path, {k: node_line(root, (k,)) for k in texts})


# -- single values: estimate, compare, route ----------------------------------------------------

def expert_parallel(text, field):
    """``--ep``: a count, or ``all`` (``deployment.EP_ALL``)."""
    from moecalc.deployment import EP_ALL
    from moecalc.parsing import parse_count

    return EP_ALL if str(text).strip().lower() == "all" else parse_count(text, field, minimum=1)


def count(minimum: int = 1):
    from moecalc.parsing import parse_count

    return lambda text, field: parse_count(text, field, minimum=minimum)


def workload(g: Given, batch: str = "1"):
    """The ``Workload`` of estimate, compare and route (one context, one batch)."""
    from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
    from moecalc.estimate import Workload

    from moecalc.estimate import parse_weight_dtypes

    if g.has("context") and (g.has("isl") or g.has("osl")):
        raise MoecalcError("give --context (a decode step at that KV length) or --isl/--osl (requests), not both",
                           field="--context")

    def weights(text, field):
        parse_weight_dtypes(str(text).strip(), field)
        return str(text).strip()

    return Workload(context=g.parse("context", count(), "4096"), batch=g.parse("batch", count(), batch),
                    weights_dtype=g.parse("weights_dtype", weights), kv_dtype=g.parse("kv_dtype", dtype(KV_DTYPES)),
                    isl=g.parse("isl", count()), osl=g.parse("osl", count()), mode=g.parse("mode", mode_name),
                    mtp_tokens=g.parse("mtp", count(0), "0"))


def mode_name(text, field):
    from moecalc.engine.requests import MODES

    name = str(text).strip()
    if name not in (*MODES, "disaggregated"):
        raise MoecalcError(f"must be one of {', '.join(MODES)} or disaggregated, got {name!r}", field=field)
    return name


def local(g: Given, deployment):
    """A local request (``moecalc.offload.LocalRequest``) when --host or --offload is given, else
    None; it needs --gpu and takes no layout beyond --gpus."""
    if not (g.has("host") or g.has("offload")):
        for name in ("expert_compute", "gpu_expert_cache"):
            if g.has(name):
                raise MoecalcError("needs --host or --offload", field=flag(name))
        return None
    from moecalc.offload import LocalRequest          # here: a plain estimate does not import it
    if deployment is None:
        raise MoecalcError("a local estimate needs --gpu (the GPU beside the host)", field="--gpu")
    for name in ("tp", "ep", "dp", "pp", "mode"):
        if g.has(name) and not (name == "mode" and g.text("mode") == "continuous"):
            raise MoecalcError("does not apply to a local estimate (--host/--offload): one user, layers split "
                               "over --gpus", field=flag(name))
    # what a local estimate has no term for: drafting, cost, a cluster's links and expert placement
    for name in ("mtp", "mtp_acceptance", "price_per_hour", "scale_out", "gpus_per_node", "redundant_experts",
                 "max_nodes_per_token", "dispatch_dtype", "combine_dtype", "link_efficiency", "capacity_factor",
                 "overflow", *PoolOptions.model_fields):
        if g.has(name):
            raise MoecalcError("does not apply to a local estimate (--host/--offload): it models one user's "
                               "decode and prefill, no drafting, cost or cluster links", field=flag(name))
    offload = g.text("offload", "auto" if g.has("host") else "none")
    if g.has("gpu_expert_cache") and (offload == "none" or offload.startswith("layers")):
        raise MoecalcError("caches experts of offloaded MoE layers: needs --offload auto, experts or experts:N",
                           field="--gpu-expert-cache")
    return LocalRequest(gpu=deployment.gpu, gpus=deployment.gpus or 1, host=g.text("host"),
                        offload=offload,
                        expert_compute=g.text("expert_compute", "cpu"),
                        expert_cache=g.parse("gpu_expert_cache", count(minimum=0)) or 0)


def train_request(g: Given, tokens: str | None, defaults: dict | None = None):
    """``moecalc train``'s request from its options (``tokens``: its own --tokens, which route's
    --tokens does not share); the serving layout options it does not take are errors."""
    from moecalc.parsing import parse_positive
    from moecalc.train import TrainRequest, parse_tokens

    takes = {"gpu", "gpus", "tp", "pp", "ep", "dp", "price_per_hour", "hardware_file"}
    for group in SERVING:                            # compare --train is offered them all
        for name in group.model_fields:
            if g.has(name) and name not in takes:
                raise MoecalcError("does not apply to training (a serving option)", field=flag(name))
    if tokens is None:
        raise MoecalcError("train needs --tokens, --gpu and --gpus", field="--tokens")
    defaults = defaults or {}
    for name in ("gpu", "gpus"):
        if not g.has(name) and name not in defaults:
            raise MoecalcError("train needs --tokens, --gpu and --gpus", field=flag(name))
    precision = g.text("precision", "bf16")
    if precision not in ("bf16", "fp8"):
        raise MoecalcError(f"must be bf16 or fp8, got {precision!r}", field="--precision")
    recompute = g.text("recompute", "selective")
    if recompute not in ("selective", "full"):
        raise MoecalcError(f"must be selective or full, got {recompute!r}", field="--recompute")
    mfu = g.parse("train_mfu", lambda t, f: parse_positive(t, f, "a fraction"), "0.40")
    if not 0 < mfu <= 1:
        raise MoecalcError(f"must be in (0, 1], got {mfu:g}", field="--train-mfu")
    pue = g.parse("pue", lambda t, f: parse_positive(t, f, "a number"), "1.2")
    return TrainRequest(tokens=parse_tokens(tokens, "--tokens"), gpu=g.text("gpu", defaults.get("gpu")),
                        gpus=g.parse("gpus", count(), defaults.get("gpus")),
                        tp=g.parse("tp", count()), pp=g.parse("pp", count()), ep=g.parse("ep", count()),
                        dp=g.parse("dp", count()), seq_len=g.parse("seq_len", count(), "4096"), precision=precision,
                        mfu=mfu, recompute=recompute, micro_batch=g.parse("micro_batch", count(), "1"),
                        global_batch=g.parse("global_batch", parse_tokens, "4194304"),
                        price_per_hour=g.parse("price_per_hour", lambda t, f: parse_positive(t, f, "a price")),
                        pue=pue, overlap=g.parse("train_overlap", _share, "0"),
                        cp=g.parse("cp", count(), "1"), zero=g.parse("zero", _zero_stage, "1"),
                        vp=g.parse("vp", count(), "1"))


def _zero_stage(text, field) -> int:
    value = str(text).strip()
    if value not in ("0", "1", "2", "3"):
        raise MoecalcError(f"must be 0, 1, 2 or 3, got {value!r}", field=field)
    return int(value)


def _share(text, field) -> float:
    """A share in [0, 1]."""
    import math

    try:
        value = float(str(text).strip())
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise MoecalcError(f"must be a share in [0, 1], got {text!r}", field=field)
    return value


def prefill_pool(g: Given, decode):
    """The prefill pool of ``--mode disaggregated`` (and its prompts per forward), or None.
    Pool options without that mode are an error."""
    from moecalc.deployment import Deployment

    given = [n for n in PoolOptions.model_fields if g.has(n)]
    if g.text("mode") != "disaggregated":
        if given:
            raise MoecalcError("needs --mode disaggregated", field=flag(given[0]))
        return None, None
    if decode is None:
        raise MoecalcError("--mode disaggregated needs --gpu (the decode pool)", field="--gpu")
    if not g.has("prefill_gpus"):
        raise MoecalcError("--mode disaggregated needs a prefill pool: --prefill-gpus (and its layout)",
                           field="--prefill-gpus")
    pool = Deployment(gpu=g.text("prefill_gpu", decode.gpu), gpus=g.parse("prefill_gpus", count()),
                      tp=g.parse("prefill_tp", count()), ep=g.parse("prefill_ep", expert_parallel),
                      dp=g.parse("prefill_dp", count()), scale_out=decode.scale_out,
                      price_per_hour=decode.price_per_hour)
    return pool, g.parse("prefill_batch", count())


def dtype(known):
    def parse(text, field):
        name = str(text).strip()
        if name not in known:
            raise MoecalcError(f"unknown dtype {name!r}; known: {', '.join(known)}", field=field)
        return name
    return parse


SHORTHANDS = {"dispatch_dtype": ("dispatch_dtype",), "combine_dtype": ("combine_dtype",),
              "link_efficiency": ("scaleup_efficiency", "scaleout_efficiency"),
              "mtp_acceptance": ("mtp_acceptance",), "max_num_batched_tokens": ("prefill_chunk_tokens",),
              "gpu_memory_utilization": ("gpu_memory_utilization",)}
"""Options that set assumptions: option -> the assumptions it sets."""


def assumptions(g: Given):
    """``Assumptions`` with the ``--assume`` overrides and the shorthand options applied."""
    from moecalc.assumptions import Assumptions, parse_assumption, with_overrides

    try:
        a = with_overrides(Assumptions(), g.text("assume", []))
    except MoecalcError as exc:
        raise g.located(exc, "assume") from None
    values = {}
    for name, targets in SHORTHANDS.items():
        for target in targets:
            value = g.parse(name, lambda text, field, t=target: parse_assumption(t, str(text).strip(), field))
            if value is not None:
                values[target] = value
    return replace(a, **values)


def serving_given(g: Given) -> list[str]:
    """The options given that only a deployment uses (each needs a GPU)."""
    from moecalc.assumptions import MODEL_ONLY

    names = [flag(n) for n in DeploymentOptions.model_fields if n not in ("gpu", "hardware_file") and g.has(n)]
    names += [flag(n) for n in SHORTHANDS if g.has(n)]
    assumed = [p.partition("=")[0].strip().replace("-", "_") for p in g.text("assume", [])]
    names += [f"--assume {n}" for n in assumed if n not in MODEL_ONLY]
    return names


def catalog(g: Given):
    from moecalc.hardware import load_catalog

    return load_catalog(g.text("hardware_file"))


def deployment(g: Given, gpu: str | None = None):
    """The ``Deployment`` of estimate, compare and route: None without a GPU (``gpu``: the
    default GPU type). Layout options without a GPU are an error."""
    from moecalc.deployment import Deployment
    from moecalc.parsing import parse_price

    gpu = g.text("gpu", gpu)
    if gpu is None:
        needs = serving_given(g)
        if needs:
            raise MoecalcError(f"{needs[0]} needs --gpu", field="--gpu")
        return None
    return Deployment(
        gpu=gpu, gpus=g.parse("gpus", count()), gpus_per_node=g.parse("gpus_per_node", count()),
        tp=g.parse("tp", count()), ep=g.parse("ep", expert_parallel), dp=g.parse("dp", count()),
        pp=g.parse("pp", count()), redundant_experts=g.parse("redundant_experts", count(0), "0"),
        max_nodes_per_token=g.parse("max_nodes_per_token", count()), scale_out=g.text("scale_out"),
        price_per_hour=g.parse("price_per_hour", parse_price))


def routing(g: Given):
    """The ``Routing`` (router law, capacity, overflow, seed, group limit) the options give."""
    from moecalc.parsing import parse_count, parse_positive
    from moecalc.routers import parse_groups, parse_routing

    cap = g.parse("capacity_factor", parse_positive)
    seed = g.parse("seed", lambda t, f: parse_count(t, f, minimum=0), "0")
    overflow = str(g.text("overflow", "drop")).strip()
    try:
        parsed = parse_routing(g.text("routing"), seed, cap, overflow, g.field)
    except MoecalcError as exc:
        names = {g.field(n): n for n in RoutingOptions.model_fields}
        raise g.located(exc, names.get(exc.field, "routing")) from None
    return replace(parsed, groups=g.parse("groups", parse_groups))


# -- axes: the sweep ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepRequest:
    space: Any           # moecalc.sweep.Space
    constraints: Any     # moecalc.sweep.Constraints
    objective: str
    top: int


def _names(known, what: str):
    def parse(text: str, field: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(p.strip() for p in str(text).split(",") if p.strip()))
        if not names:
            raise MoecalcError("is empty", field=field)
        for n in names:
            if n not in known:
                raise MoecalcError(f"unknown {what} {n!r}; known: {', '.join(known)}", field=field)
        return names
    return parse


def weight_alternatives(text, field) -> tuple[str, ...]:
    """A sweep's weight dtypes: a comma list of plain dtypes (alternatives), or one per-component
    form (``routed_experts=nvfp4,attention=bf16``: one alternative)."""
    from moecalc.engine.dtypes import WEIGHT_DTYPES
    from moecalc.estimate import parse_weight_dtypes

    from moecalc.engine.dtypes import GGUF_MIXES

    text = str(text).strip()
    if "=" in text:
        parse_weight_dtypes(text, field)
        return (text,)
    return _names(list(WEIGHT_DTYPES) + list(GGUF_MIXES), "dtype")(text, field)


def frontier_kind(text, field) -> str:
    value = str(text).strip()
    if value not in ("cost", "interactivity"):
        raise MoecalcError(f"must be cost or interactivity, got {value!r}", field=field)
    return value


def request_axes(g: Given) -> dict:
    """A sweep's request workload: ISL x OSL axes, the mode and MTP (none: decode at --context)."""
    from moecalc.parsing import parse_axis

    if not (g.has("isl") or g.has("osl")):
        if g.has("mode") or g.has("mtp"):
            raise MoecalcError("needs --isl and --osl in a sweep", field=g.field("mode" if g.has("mode") else "mtp"))
        return {}
    if g.has("context"):
        raise MoecalcError("give --context or --isl/--osl, not both", field=g.field("context"))
    if not (g.has("isl") and g.has("osl")):
        raise MoecalcError("a sweep's request workload needs both --isl and --osl",
                           field=g.field("osl" if g.has("isl") else "isl"))
    isl, osl = g.parse("isl", parse_axis), g.parse("osl", parse_axis)
    mode = g.parse("mode", mode_name, "continuous")
    if mode == "disaggregated":
        raise MoecalcError("a sweep searches one pool at a time: --mode prefill or decode (estimate takes "
                           "disaggregated)", field=g.field("mode"))
    return {"requests": tuple((i, o) for i in isl for o in osl), "mode": mode, "mtp_tokens": g.parse("mtp", count(0), "0")}


def sweep_request(g: Given, catalog) -> SweepRequest:
    """The sweep's space, constraints, objective and row count from the options (and plan)."""
    from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
    from moecalc.parsing import parse_axis, parse_positive, parse_price
    from moecalc.sweep import OBJECTIVES, Constraints, Space

    def axis(text, field):
        return parse_axis(text, field)

    def auto_axis(text, field):
        return None if str(text).strip().lower() == "auto" else parse_axis(text, field)

    def ep_axis(text, field):
        """An axis of EP sizes, where ``all`` (alone or in a list) is EP over each stage."""
        parts = [p.strip() for p in str(text).split(",")]
        if "all" not in (p.lower() for p in parts):
            return auto_axis(text, field)
        from moecalc.deployment import EP_ALL

        rest = ",".join(p for p in parts if p.lower() != "all")
        return tuple(dict.fromkeys((EP_ALL, *(parse_axis(rest, field) if rest else ()))))

    def gpus_named(text, field):
        if str(text).strip().lower() == "all":
            return tuple(catalog.accelerators)
        names = tuple(dict.fromkeys(p.strip() for p in str(text).split(",") if p.strip()))
        if not names:
            raise MoecalcError("is empty", field=field)
        try:
            return tuple(dict.fromkeys(catalog.gpu(n)[0] for n in names))
        except MoecalcError as exc:
            exc.field = field
            raise

    def scale_out(text, field):
        catalog.link(text, field, kind="scale-out")
        return text

    def objective(text, field):
        value = str(text).strip()
        if value not in OBJECTIVES:
            raise MoecalcError(f"must be one of {', '.join(OBJECTIVES)}, got {value!r}", field=field)
        return value

    def per_ms(text, field):
        return parse_positive(text, field) * 1e-3

    space = Space(
        gpu=g.parse("gpu", gpus_named, "all"), gpus=g.parse("gpus", axis, "1..64"), tp=g.parse("tp", axis, "1,2,4,8"),
        pp=g.parse("pp", axis, "1"), dp=g.parse("dp", auto_axis), ep=g.parse("ep", ep_axis),
        gpus_per_node=g.parse("gpus_per_node", axis), batch=g.parse("batch", axis, "1..256"),
        context=g.parse("context", axis, "4096"),
        weights_dtype=g.parse("weights_dtype", weight_alternatives),
        kv_dtype=g.parse("kv_dtype", _names(list(KV_DTYPES), "dtype")),
        redundant_experts=g.parse("redundant_experts", count(0), "0"),
        max_nodes_per_token=g.parse("max_nodes_per_token", count()),
        scale_out=g.parse("scale_out", scale_out), price_per_hour=g.parse("price_per_hour", parse_price),
        routing=routing(g), **request_axes(g))
    constraints = Constraints(max_tpot_seconds=g.parse("max_tpot_ms", per_ms),
                              max_ttft_seconds=g.parse("max_ttft_ms", per_ms),
                              min_tokens_per_s=g.parse("min_tokens_per_s", parse_positive),
                              budget_usd_per_hour=g.parse("budget_usd_per_hour", parse_positive),
                              min_tokens_per_user=g.parse("min_tokens_per_user", parse_positive))
    return SweepRequest(space, constraints, g.parse("objective", objective, "cost"), g.parse("top", count(), "10"))


__all__ = ["AssumptionOptions", "DECLARED", "DeploymentOptions", "Given", "RoutingOptions", "SERVING", "SearchOptions",
           "SweepPlan", "SweepRequest", "WorkloadOptions", "assumptions", "catalog", "deployment", "flag",
           "load_plan", "routing", "sweep_request", "workload"]
