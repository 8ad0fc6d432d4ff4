"""What it costs to train a model: FLOPs, GPU-hours, days, dollars and energy at an MFU, and the
memory per GPU of a TP x PP x DP (EP) layout (formulas: ``engine.train``).

GPU-hours = FLOPs / (GPUs x BF16 dense peak x MFU) / 3600, with MFU against the BF16 peak as
published runs report it (Llama 3 405B: 38-43% on H100, arXiv 2407.21783 table 4), whatever
the GEMMs' precision; ``--precision fp8`` sets what the weights and activations cost in memory
only. (DeepSeek-V3's 2,664K H800-hours for 14.8T tokens at its 260.6 GFLOP a token come to
40.6% of the BF16 peak: its FP8 GEMMs bought back what its MoE costs.) Energy = GPU-hours x TDP
x PUE. The step bound (``engine.train.train_step``: GEMMs at peak, the all-to-all, TP and
gradient traffic, the 1F1B bubble) is printed beside it; it does not predict the MFU yet
(docs/method/training.md: the published runs imply GEMM efficiencies of 0.23 to 0.94).
"""

from __future__ import annotations

import math

from dataclasses import dataclass

from moecalc.errors import MoecalcError


@dataclass(frozen=True)
class TrainRequest:
    tokens: float
    gpu: str
    gpus: int
    tp: int | None = 1          # None (with pp): the smallest TP x PP that fits (search_layout)
    pp: int | None = 1
    ep: int | None = None
    dp: int | None = None
    seq_len: int = 4096
    precision: str = "bf16"
    mfu: float = 0.40
    recompute: str = "selective"
    micro_batch: int = 1
    global_batch: float = 4 * 2**20
    price_per_hour: float | None = None
    pue: float = 1.2
    overlap: float = 0.0        # share of EP and DP communication hidden under compute (DualPipe: 1)
    cp: int = 1                 # context parallel: each sequence split over CP GPUs
    zero: int = 1               # ZeRO stage: 1 is Megatron's distributed optimizer
    vp: int = 1                 # virtual pipeline stages a GPU (interleaved 1F1B)


def step_model(m, acc, catalog, flops, r: TrainRequest, layout, gemm_efficiency: float = 1.0,
               overlap: float | None = None):
    """``engine.train.train_step`` of request ``r`` on accelerator ``acc``: the GEMMs at
    ``gemm_efficiency`` of the precision's peak (fp8 or bf16; 1: the bound), the experts'
    saturation by the serving calibration's half-saturation rows, the GPU's NVLink and NIC."""
    from moecalc.assumptions import Assumptions
    from moecalc.engine.train import TrainCluster, TrainRuntime, train_step

    peak = acc.peak_flops(r.precision) or acc.peak_flops("bf16") or acc.peak_flops("fp16")
    up = catalog.link(acc.scale_up, kind="scale-up").bytes_per_s
    out = catalog.link(acc.scale_out, kind="scale-out").bytes_per_s if acc.scale_out else up
    cluster = TrainCluster(peak_flops=peak, gpus_per_node=acc.scale_up_domain, scale_up=up, scale_out=out)
    runtime = TrainRuntime(gemm_efficiency=gemm_efficiency,
                           gemm_half_rows=Assumptions.for_profile("calibrated").gemm_half_rows,
                           payload_bytes=1.5 if r.precision == "fp8" else 2.0,
                           overlap=r.overlap if overlap is None else overlap)
    return train_step(m, flops, layout, cluster, runtime)


def train_layout(r: TrainRequest, dp: int, ep: int, micro_batch: int, micro_batches: int):
    """The engine's ``TrainLayout`` of request ``r`` with DP and EP resolved."""
    from moecalc.engine.train import TrainLayout

    return TrainLayout(tp=r.tp, pp=r.pp, dp=dp, ep=ep, sequence=r.seq_len, micro_batch=micro_batch,
                       micro_batches=micro_batches, recompute=r.recompute, zero=r.zero, cp=r.cp, vp=r.vp)


def resolve_layout(m, r: TrainRequest) -> tuple[int, int]:
    """DP and EP of request ``r`` (TP and PP set): DP fills the GPUs, EP defaults to the most
    experts that DP x CP divides; every inconsistency is an error naming its option."""
    if r.gpus % (r.tp * r.pp * r.cp):
        raise MoecalcError(f"{r.gpus} GPUs do not split into TP{r.tp} x CP{r.cp} x PP{r.pp}", field="--gpus")
    dp = r.dp or r.gpus // (r.tp * r.pp * r.cp)
    if r.tp * r.pp * r.cp * dp != r.gpus:
        raise MoecalcError(f"TP{r.tp} x CP{r.cp} x PP{r.pp} x DP{dp} is not {r.gpus} GPUs", field="--dp")
    if r.seq_len % r.cp:
        raise MoecalcError(f"CP{r.cp} does not divide the {r.seq_len}-token sequence", field="--cp")
    ep = r.ep or (math.gcd(m.num_experts, dp * r.cp) if m.num_experts else 1)   # the most DP x CP divides
    if m.num_experts and (m.num_experts % ep or (r.tp * dp * r.cp) % ep):
        raise MoecalcError(f"EP{ep} must divide the {m.num_experts} experts and TP x CP x DP = {r.tp * dp * r.cp}",
                           field="--ep")
    if r.vp > 1 and (r.pp == 1 or r.pp * r.vp > m.num_layers):
        raise MoecalcError(f"interleaving needs PP > 1 and PP x VP chunks of the {m.num_layers} layers", field="--vp")
    if r.pp > m.num_layers:
        raise MoecalcError(f"{m.num_layers} layers cannot fill {r.pp} stages", field="--pp")
    if r.global_batch < dp * r.seq_len * r.micro_batch:
        raise MoecalcError(f"{r.global_batch:,.0f} tokens a step do not give each of the {dp} data-parallel replicas "
                           f"one micro-batch of {r.micro_batch} x {r.seq_len} tokens", field="--global-batch")
    return dp, ep


def memory_per_gpu(m, r: TrainRequest, dp: int, ep: int, micro_batch: int):
    """(``engine.train.train_memory``'s breakdown, bytes on the fullest GPU) at ``micro_batch``
    sequences a micro-batch, FP8 halving the cached activations (DeepSeek-V3, 3.3.2)."""
    from moecalc.engine.train import train_memory

    n = max(int(r.global_batch // (dp * r.seq_len * micro_batch)), 1)
    got = train_memory(m, train_layout(r, dp, ep, micro_batch, n))
    return got, got.weights_and_grads + got.optimizer + got.activations * (0.5 if r.precision == "fp8" else 1.0)


def layout_note(r: TrainRequest) -> str:
    """``given``, or which of TP and PP ``search_layout`` chose."""
    free = " x ".join(n for n, v in (("TP", r.tp), ("PP", r.pp)) if v is None)
    return f"searched {free}: the smallest that fits, the fewer stages first" if free else "given"


def search_layout(m, acc, r: TrainRequest) -> TrainRequest:
    """The layout of a request without TP or PP: the smallest model-parallel group TP x PP that
    fits (TP up to the scale-up domain, powers of two; PP powers of two up to the layers), the
    fewer pipeline stages first at equal size (less bubble); a given TP or PP is kept. With none
    fitting, the one with the least memory a GPU (``train`` then warns that it does not fit)."""
    from dataclasses import replace

    tps = [r.tp] if r.tp is not None else [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= max(acc.scale_up_domain, 1)]
    pps = [r.pp] if r.pp is not None else [p for p in (2 ** i for i in range(12)) if p <= m.num_layers]
    best, best_bytes, first_error = None, math.inf, None
    for tp, pp in sorted(((t, p) for t in tps for p in pps), key=lambda c: (c[0] * c[1], c[1])):
        candidate = replace(r, tp=tp, pp=pp)
        try:
            dp, ep = resolve_layout(m, candidate)
        except MoecalcError as e:
            first_error = first_error or e
            continue
        per_gpu = memory_per_gpu(m, candidate, dp, ep, r.micro_batch)[1]
        if per_gpu <= acc.memory_bytes:
            return candidate
        if per_gpu < best_bytes:
            best, best_bytes = candidate, per_gpu
    if best is None:          # no valid layout: why the smallest one is not
        raise first_error
    return best


def parse_tokens(text: str, field: str) -> float:
    """``14.8T``, ``500B``, ``2e12``: a decimal token count."""
    t = str(text).strip().upper()
    scale = {"T": 1e12, "B": 1e9, "G": 1e9, "M": 1e6, "K": 1e3}.get(t[-1:], 1.0)
    try:
        value = float(t[:-1] if t[-1:] in "TBGMK" else t) * scale
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e18:
        raise MoecalcError(f"{text!r} is not a token count (examples: 14.8T, 500B, 2e12)", field=field)
    return value


def train(spec, request: TrainRequest, catalog, label: str | None = None) -> dict:
    """The ``train`` section (FLOPs, GPU-hours, days, dollars, energy, MFU) and the per-GPU
    ``memory`` of training ``spec`` as ``request`` says."""
    from moecalc.engine.evaluate import attention_flops
    from moecalc.engine.train import train_flops
    from moecalc.prices import price_basis

    m = spec.numbers()
    key, acc = catalog.gpu(request.gpu)
    searched = request.tp is None or request.pp is None
    r = search_layout(m, acc, request) if searched else request
    dp, ep = resolve_layout(m, r)
    flops = train_flops(m, r.seq_len, lambda L: attention_flops(m, L, prefill=True))
    total = r.tokens * flops.per_token
    peak = acc.peak_flops("bf16") or acc.peak_flops("fp16")
    gpu_seconds = total / (peak * r.mfu)
    gpu_hours = gpu_seconds / 3600
    price = r.price_per_hour if r.price_per_hour is not None else acc.price_usd_per_hour
    micro_batches = int(r.global_batch // (dp * r.seq_len * r.micro_batch))
    activation_scale = 0.5 if r.precision == "fp8" else 1.0      # FP8-cached activations (DeepSeek-V3 3.3.2)

    def memory_at(micro_batch):
        return memory_per_gpu(m, r, dp, ep, micro_batch)

    mem, per_gpu = memory_at(r.micro_batch)
    # the largest micro-batch that fits: activations in flight are min(PP, the step's micro-batches)
    # micro-batches, which rises and falls with the micro-batch, so every size is tried (up to 4,096)
    most = min(max(int(r.global_batch // (dp * r.seq_len)), 1), 4096)
    largest = max((b for b in range(1, most + 1) if memory_at(b)[1] <= acc.memory_bytes), default=0)
    # the step-time bound: GEMMs at the peak, communication exposed but for --train-overlap
    layout = train_layout(r, dp, ep, r.micro_batch, micro_batches)
    step = step_model(m, acc, catalog, flops, r, layout)
    step_tokens = layout.tokens
    step_mfu = step_tokens * flops.per_token / (r.gpus * peak * step.total)
    # ... and with every transfer hidden: what the pipeline bubble alone leaves
    ceiling = step_tokens * flops.per_token / (r.gpus * peak * step.compute * (1 + layout.bubble))
    return {
        "model": {"name": spec.name, "family": spec.family, "spec": label},
        "params": {"total": m.params.total, "active": m.params.active, "mtp": m.params.mtp},
        "train": {
            "tokens": r.tokens, "seq_len": r.seq_len, "precision": r.precision,
            "flops_per_token": flops.per_token, "flops_per_token_main": 3 * flops.main,
            "flops_per_token_mtp": 3 * flops.mtp, "router_flops_per_token": flops.router,
            "flops": total, "mfu": r.mfu, "gpu_hours": gpu_hours, "days": gpu_hours / r.gpus / 24,
            "usd": None if price is None else gpu_hours * price, **price_basis(acc, r.price_per_hour),
            "energy_mwh": None if acc.tdp_w is None else gpu_hours * acc.tdp_w * r.pue / 1e6,
            "tokens_per_s_per_gpu": peak * r.mfu / flops.per_token,
            "step_bound": {"mfu_comm_exposed": step_mfu, "mfu_ceiling": ceiling, "step_seconds": step.total,
                           "tokens_per_step": step_tokens, "gemm_efficiency": 1.0, "comm_overlap": r.overlap,
                           "comm_to_compute": (step.expert_alltoall + step.tp_allreduce) / step.compute,
                           "gpu_hours": r.tokens / step_tokens * step.total * r.gpus / 3600,
                           "seconds": {"compute": step.compute, "expert_alltoall": step.expert_alltoall,
                                       "tp_allreduce": step.tp_allreduce, "data_parallel": step.data_parallel,
                                       "pipeline_bubble": step.bubble}},
        },
        "deployment": {"gpu": key, "gpus": r.gpus, "layout": layout_note(request), "tp": r.tp, "cp": r.cp, "pp": r.pp, "vp": r.vp, "dp": dp, "ep": ep,
                       "micro_batch": r.micro_batch, "micro_batches": micro_batches, "recompute": r.recompute},
        "memory": {"per_gpu_bytes": per_gpu, "capacity_per_gpu_bytes": acc.memory_bytes,
                   "fits": per_gpu <= acc.memory_bytes, "largest_micro_batch": largest, "zero": r.zero,
                   "per_gpu": {"weights_and_grads_bytes": mem.weights_and_grads, "optimizer_bytes": mem.optimizer,
                               "activations_bytes": mem.activations * activation_scale}},
        "warnings": ([] if per_gpu <= acc.memory_bytes else [
            f"does not fit: {per_gpu / 1e9:,.1f} GB per GPU of {acc.memory_bytes / 1e9:,.1f} GB; more PP or EP, "
            f"--recompute full or a smaller --micro-batch"]) + [w for w in [spec.context_warning(r.seq_len, "--seq-len", training=True)]
                                                               if w],
    }


DISTILLATION = ("Distilling a sparse teacher into a dense student 95-99% smaller keeps about 30% of its quality "
                "gain over a dense model of the student's size (Switch Transformer, Fedus et al. 2021, table 7: 37% "
                "at 82% compression, 32% at 90%, 30% at 95%, 27% at 97%, 28% at 99%)")


def compare_training(models: list[tuple], request: TrainRequest, catalog, dense_equivalents: bool = False) -> dict:
    """Each model's (and each MoE's dense twins') training cost on the same GPUs and token count:
    the sparse model's total sets its memory, its active parameters its FLOPs, so an equal-total
    dense model costs total/active times the GPU-hours and an equal-active one the same compute
    without the capacity. Ratios are to the first model."""
    from dataclasses import replace

    from moecalc.compare import with_twins

    out = []
    for spec, label, kind, how in with_twins(models, dense_equivalents):
        r = train(spec, replace(request, ep=request.ep if kind == "moe" else None), catalog, label)
        out.append({"name": spec.name, "kind": kind, "construction": how, **r})
    first = out[0]["train"]
    for e in out:
        t = e["train"]
        e["ratios"] = {"flops": t["flops"] / first["flops"], "gpu_hours": t["gpu_hours"] / first["gpu_hours"]}
    result = {"models": out}
    if dense_equivalents:
        result["distillation"] = DISTILLATION
    return result


TRAIN_KEYS: dict[str, str] = {
    "model.name": "the model's name", "model.family": "its family", "model.spec": "what was loaded",
    "params.total": "parameters of the main model", "params.active": "parameters a token uses",
    "params.mtp": "the MTP modules' parameters (trained too)",
    "train.tokens": "training tokens", "train.seq_len": "sequence length", "train.precision": "GEMM precision",
    "train.flops_per_token": "training FLOPs a token: 3 x forward, MTP modules included",
    "train.flops_per_token_main": "... of the main model", "train.flops_per_token_mtp": "... of the MTP modules",
    "train.router_flops_per_token": "the router's share (inside flops_per_token)",
    "train.flops": "tokens x flops_per_token", "train.mfu": "the MFU the GPU-hours assume (--mfu)",
    "train.gpu_hours": "FLOPs / (BF16 dense peak x MFU) / 3600", "train.days": "gpu_hours / GPUs / 24",
    "train.usd": "gpu_hours x price (null without one)", "train.price_per_gpu_hour": "the price used",
    "train.price_source": "where the price comes from", "train.price_kind": "what the catalog price is (as in "
    "estimate's hardware.price_kind)", "train.price_date": "YYYY-MM of the catalog price (null: undated or none)",
    "train.price_valid_until": "YYYY-MM-DD the catalog rate stops holding (null: none)",
    "train.price_source_keys": "keys of the reference sources table the catalog price comes from",
    "train.price_freshness": "dated YYYY-MM, stale, undated, user-given or null (as estimate's)",
    "train.price_as_of": "the day a catalog price was judged on (MOECALC_TODAY or the real date)",
    "train.energy_mwh": "gpu_hours x TDP x PUE",
    "train.tokens_per_s_per_gpu": "BF16 peak x MFU / flops_per_token",
    "train.step_bound.mfu_comm_exposed": "the step bound's MFU: GEMMs at peak, --train-overlap of the transfers hidden",
    "train.step_bound.mfu_ceiling": "... with every transfer hidden (the bubble alone)",
    "train.step_bound.step_seconds": "one optimizer step of the bound",
    "train.step_bound.tokens_per_step": "micro-batches x DP x micro-batch x sequence",
    "train.step_bound.gemm_efficiency": "1: the bound's GEMMs run at the peak",
    "train.step_bound.comm_overlap": "--train-overlap",
    "train.step_bound.comm_to_compute": "exposed all-to-all and TP all-reduce time over compute",
    "train.step_bound.gpu_hours": "GPU-hours at the bound's step (a floor)",
    "train.step_bound.seconds.compute": "seconds a step: the GEMMs and attention, recomputation included",
    "train.step_bound.seconds.expert_alltoall": "... the EP all-to-all not hidden",
    "train.step_bound.seconds.tp_allreduce": "... the TP all-reduces",
    "train.step_bound.seconds.data_parallel": "... the gradient traffic not hidden",
    "train.step_bound.seconds.pipeline_bubble": "... the pipeline's fill and drain",
    "deployment.gpu": "GPU", "deployment.gpus": "GPUs",
    "deployment.layout": "given, or searched (no --tp or --pp: the smallest TP x PP that fits)", "deployment.tp": "tensor parallel",
    "deployment.cp": "context parallel", "deployment.pp": "pipeline stages", "deployment.vp": "virtual stages a GPU",
    "deployment.dp": "data parallel", "deployment.ep": "expert parallel", "deployment.micro_batch": "sequences a micro-batch",
    "deployment.micro_batches": "micro-batches a step", "deployment.recompute": "activation recomputation",
    "memory.per_gpu_bytes": "bytes on the fullest GPU (a first stage)", "memory.capacity_per_gpu_bytes": "the GPU's",
    "memory.fits": "per_gpu_bytes <= capacity", "memory.largest_micro_batch": "the largest micro-batch that fits",
    "memory.zero": "the ZeRO stage", "memory.per_gpu.weights_and_grads_bytes": "bf16 weights and fp32 gradients",
    "memory.per_gpu.optimizer_bytes": "fp32 master weights and Adam's moments",
    "memory.per_gpu.activations_bytes": "stored activations", "warnings": "what the user should know",
}
"""What ``moecalc train --format json`` writes (docs/json.md is generated from a run against it)."""
