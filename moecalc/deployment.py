"""Deployments: a GPU type, a parallel layout and the checks that keep the layout honest.

``resolve`` fills what the user left out (the smallest layout that fits, when only ``--gpu``
is given), ``check`` rejects inconsistent layouts with one line, and ``layout_record`` gives the
engine's ``Layout`` of the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from moecalc.engine.layout import LAYOUT_RULES, layout_problem
from moecalc.engine.model import ModelNumbers
from moecalc.engine.records import Layout
from moecalc.errors import MoecalcError
from moecalc.spec.hardware import Accelerator

DEFAULT_MAX_TP = 8          # default layouts split attention by TP up to 8 (one HGX board), DP beyond
MAX_GPUS = 4096             # largest deployment the default search tries
EP_ALL = 0                  # --ep all: EP over the whole stage (tp x dp), vLLM's --enable-expert-parallel


@dataclass(frozen=True)
class Deployment:
    gpu: str
    gpus: int | None = None
    gpus_per_node: int | None = None      # default: the GPU's scale-up domain
    tp: int | None = None
    ep: int | None = None                 # None: 1 (experts split by TP); EP_ALL (0): the whole stage
    dp: int | None = None
    pp: int | None = None
    redundant_experts: int = 0
    max_nodes_per_token: int | None = None   # node-limited routing (DeepSeek-V3: 4); None: no limit
    scale_out: str | None = None              # interconnect profile overriding the GPU's NIC
    price_per_hour: float | None = None       # USD per GPU-hour overriding the profile's


def _pow2_floor(x: int) -> int:
    return 1 << (max(int(x), 1).bit_length() - 1)


def default_tp(m: ModelNumbers, limit: int, stage: int | None = None) -> int:
    """Largest power of two <= limit that divides the heads, suits the kv heads and divides the
    stage's GPUs (6 GPUs: TP2 x DP3, not TP4 and a count that no longer matches)."""
    tp = _pow2_floor(limit)
    while tp > 1 and (not _tp_ok(m, tp) or (stage is not None and stage % tp)):
        tp //= 2
    return tp


def _tp_ok(m: ModelNumbers, tp: int) -> bool:
    heads, kv_heads = m.tp_problems(tp)
    return not (heads or kv_heads)


def _fill(m: ModelNumbers, d: Deployment, gpus: int) -> Deployment:
    """Complete a layout for ``gpus`` GPUs from what the user gave."""
    pp = d.pp or 1
    if d.tp is None:
        per_stage = gpus // pp if gpus % pp == 0 else 1
        limit = min(per_stage, DEFAULT_MAX_TP, d.gpus_per_node or DEFAULT_MAX_TP)
        tp = default_tp(m, limit, per_stage) if d.dp is None else max(per_stage // d.dp, 1)
    else:
        tp = d.tp
    dp = d.dp if d.dp is not None else max(gpus // (tp * pp), 1)
    ep = d.ep if d.ep else default_ep(m, tp * dp, d.redundant_experts, d.ep == EP_ALL)
    return replace(d, gpus=gpus, tp=tp, dp=dp, pp=pp, ep=ep)


def default_ep(m: ModelNumbers, stage: int, redundant: int, expert_parallel: bool = False) -> int:
    """EP 1 by default: every expert split over the stage's tp x dp GPUs (expert TP), as vLLM
    and SGLang shard experts unless expert parallelism is asked for (vLLM
    --enable-expert-parallel, SGLang --ep-size). With ``expert_parallel``: EP over the whole
    stage, or its largest divisor not above the expert slots, experts then split further by
    expert TP (what vLLM's --enable-expert-parallel does). Dense models: 1."""
    if not m.num_experts or not expert_parallel:
        return 1
    slots = m.num_experts + redundant
    return max(e for e in range(1, min(stage, slots) + 1) if stage % e == 0)


def expert_sharding(d: Deployment) -> str:
    """How a complete MoE layout splits the routed experts, in the serving stacks' words."""
    stage = d.tp * d.dp
    if d.ep == 1:
        return f"each split by TP over {stage} GPUs (EP1: vLLM's and SGLang's default; --ep all for EP)"
    if d.ep == stage:
        return f"EP over all {d.ep} GPUs of a stage (vLLM --enable-expert-parallel)"
    return f"EP{d.ep}, each expert split by TP{stage // d.ep}"


def serving_flags(d: Deployment, moe: bool) -> dict[str, str]:
    """The flags that run layout ``d`` on each serving stack, or why a stack cannot express it.

    moecalc's TP is attention's; DP is attention replicas inside one MoE group of tp x dp GPUs
    per stage; EP splits the experts over that group, each further split by expert TP. vLLM
    (-tp/-dp/-pp: tensor/data/pipeline-parallel-size): experts split by TP over tp x dp unless
    --enable-expert-parallel, which makes EP exactly tp x dp. SGLang: --tp (--tp-size) is the
    group (tp x dp), --dp with --enable-dp-attention splits attention, --ep (--ep-size) the
    experts. TensorRT-LLM (trtllm-serve): --tp_size the group, --ep_size the experts, attention
    DP by ``enable_attention_dp: true`` in the --extra_llm_api_options file."""
    group, pp, R = d.tp * d.dp, d.pp, d.redundant_experts
    ep = d.ep or 1
    vllm = f"-tp {d.tp}" + (f" -dp {d.dp}" if d.dp > 1 else "") + (f" -pp {pp}" if pp > 1 else "")
    if moe and ep == group and ep > 1:
        vllm += " --enable-expert-parallel" + (f" --enable-eplb (num_redundant_experts {R})" if R else "")
    elif moe and ep > 1:
        vllm = f"cannot (its EP is tp x dp = {group} or off, not EP{ep})"
    pipeline = f" --pp-size {pp}" if pp > 1 else ""
    if not moe:                 # a dense model's DP is independent replicas
        sglang = f"--tp {d.tp}" + (f" --dp {d.dp}" if d.dp > 1 else "") + pipeline
        trtllm = f"--tp_size {d.tp}" + (f" --pp_size {pp}" if pp > 1 else "") + \
            (f" ({d.dp} instances)" if d.dp > 1 else "")
        return {"vllm": vllm, "sglang": sglang, "trtllm": trtllm}
    sglang = f"--tp {group}" + (f" --dp {d.dp} --enable-dp-attention" if d.dp > 1 else "") + \
        (f" --ep {ep}" if ep > 1 else "") + (f" --ep-num-redundant-experts {R}" if R else "") + pipeline
    trtllm = f"--tp_size {group} --ep_size {ep}" + (f" --pp_size {pp}" if pp > 1 else "") + \
        (" + enable_attention_dp" if d.dp > 1 else "") + (f" + moe_load_balancer num_slots +{R}" if R else "")
    return {"vllm": vllm, "sglang": sglang, "trtllm": trtllm}


def check(m: ModelNumbers, d: Deployment, acc: Accelerator, has_scale_out: bool) -> list[str]:
    """Reject inconsistent layouts (MoecalcError naming the option); return notes worth printing.

    The rules are ``engine.layout.layout_problem`` (the sweep applies the same function to
    arrays); this turns the first broken one into a sentence.
    """
    tp, dp, pp, ep, n, g = d.tp, d.dp, d.pp, d.ep, d.gpus, d.gpus_per_node
    code = int(layout_problem(layout_record(d), m, n, acc.scale_up_domain, has_scale_out))
    if code:
        field, message = {
            "gpus": ("--gpus", f"--gpus {n} is not a multiple of tp x pp = {tp} x {pp}" if n % (tp * pp) else
                     f"tp x dp x pp = {tp} x {dp} x {pp} = {tp * dp * pp} does not match --gpus {n}"),
            "tp_heads": ("--tp", f"the model's {m.num_heads} attention heads do not divide over --tp {tp}"),
            "tp_kv_heads": ("--tp", f"the model's {m.num_kv_heads} kv heads neither divide over --tp {tp} nor "
                                    f"replicate evenly onto it"),
            "pp_layers": ("--pp", f"--pp {pp} is more than the model's {m.num_layers} layers"),
            "ep_dense": ("--ep", f"the model has no routed experts; --ep must be 1, got {ep}"),
            "redundant_dense": ("--redundant-experts", "the model has no routed experts to replicate"),
            "redundant_no_ep": ("--redundant-experts", f"{d.redundant_experts} redundant experts replicate experts "
                                                       f"over EP ranks, and EP is 1 (every expert split by TP): give "
                                                       f"--ep N or --ep all"),
            "ep_experts": ("--ep", f"--ep {ep} is larger than the model's {m.num_experts} routed experts"
                                   + (f" + {d.redundant_experts} redundant" if d.redundant_experts else "")),
            "ep_stage": ("--ep", f"--ep {ep} must divide the {tp * dp} GPUs of a pipeline stage (tp x dp)"),
            "gpus_per_node": ("--gpus-per-node", f"{g} GPUs per node is more than the {acc.name}'s scale-up "
                                                 f"domain of {acc.scale_up_domain}"),
            "scale_out": ("--gpus", f"{n} GPUs span more than one {g}-GPU node, and the {acc.name} profile has "
                                    f"no scale-out network (give one with --scale-out)"),
        }[LAYOUT_RULES[code - 1]]
        raise MoecalcError(message, field=field)
    notes = []
    if m.num_experts:
        slots = m.num_experts + d.redundant_experts
        if slots % ep:
            fullest = math.ceil(slots / ep)
            notes.append(f"{slots} expert slots do not divide over EP{ep}: the fullest rank holds {fullest} "
                         f"(mean {slots / ep:.2f}) and sets memory and step time; --redundant-experts "
                         f"{fullest * ep - slots} would even the slots out (a replica takes half its "
                         f"expert's tokens, so the load evens out only as far as the halves allow)")
    if tp > g:
        notes.append(f"TP{tp} spans nodes: its all-reduces run over the scale-out network")
    return notes


def resolve(m: ModelNumbers, d: Deployment, acc: Accelerator, has_scale_out: bool, fits) -> tuple[Deployment, str]:
    """Fill in the layout; without --gpus (and without both --tp and --dp), the smallest
    power-of-two GPU count that fits with whatever part of the layout was given.

    ``fits(candidates)`` evaluates a list of complete deployments at once and returns booleans.
    Returns (deployment, how it was chosen).
    """
    d = replace(d, gpus_per_node=d.gpus_per_node or acc.scale_up_domain)
    if d.gpus is not None:
        return _fill(m, d, d.gpus), "given"
    if d.tp is not None and d.dp is not None:
        return _fill(m, d, d.tp * d.dp * (d.pp or 1)), "given"
    given = [f"--{k} {getattr(d, k)}" for k in ("tp", "dp", "ep", "pp")
             if getattr(d, k) is not None and not (k == "ep" and d.ep == EP_ALL)]
    candidates, problem = [], None
    n = (d.pp or 1) * (d.tp or 1) * (d.dp or 1)
    # without --pp, pipeline stages too: at each count, fewer stages first (a dense model too
    # large for TP8 replicas fits with PP, as a server would run it)
    stages = (d.pp,) if d.pp else tuple(1 << i for i in range(7) if 1 << i <= max(m.num_layers, 1))
    while n <= MAX_GPUS:
        for pp in stages:
            if n % (pp * (d.tp or 1) * (d.dp or 1)):
                continue
            c = _fill(m, replace(d, pp=pp), n)
            try:
                check(m, c, acc, has_scale_out)
                candidates.append(c)
            except MoecalcError as exc:
                problem = exc
        n *= 2
    if not candidates:          # every count breaks a rule: the user's options do; say which
        if problem is None:     # the given part of the layout alone is over the counts searched
            raise MoecalcError(f"{' '.join(given)} needs at least {(d.pp or 1) * (d.tp or 1) * (d.dp or 1):,} GPUs, "
                               f"over the {MAX_GPUS:,} the default search tries; give --gpus", field="--gpus")
        raise problem
    ok = fits(candidates)
    for c, good in zip(candidates, ok):
        if good:
            return c, "smallest power-of-two GPU count that fits" + (f" with {' '.join(given)}" if given else "") \
                + (f", PP{c.pp} (fewer stages do not fit)" if c.pp > 1 and not d.pp else "")
    largest = candidates[-1].gpus if candidates else 1
    raise MoecalcError(f"does not fit on up to {largest} x {acc.name} with the default layouts (TP up to "
                       f"{DEFAULT_MAX_TP}, DP and PP beyond); give --gpus and a layout, a smaller --context/--batch "
                       f"or a lower-bit dtype", field="--gpu")


def layout_record(d: Deployment) -> Layout:
    """The engine's Layout of a complete deployment."""
    return Layout(tp=d.tp, dp=d.dp, pp=d.pp, ep=d.ep, redundant_experts=d.redundant_experts,
                  gpus_per_node=d.gpus_per_node,
                  max_nodes_per_token=np.inf if d.max_nodes_per_token is None else d.max_nodes_per_token)
