"""Named, overridable assumptions with documented defaults; every output lists the ones used.

Each assumption is declared once, as a field of ``Assumptions`` whose metadata says what kind
of value it is (how ``--assume NAME=VALUE`` parses it and how a table shows it), whether the
model-only numbers use it, and what it means with its source. ``Assumptions.runtime()`` and
``Assumptions.precision()`` turn them into the engine's records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from moecalc.calibration import BOUND, BOUND_SETTINGS, fitted
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES, WIRE_DTYPES
from moecalc.engine.records import Precision, Runtime
from moecalc.errors import MoecalcError
from moecalc.parsing import parse_bytes, parse_count
from moecalc.spec.hardware import COMPUTE_DTYPES

GiB = 1 << 30
KINDS = ("count", "size", "fraction", "share", "number", "flag", "choice")
_FIT = fitted()


def assumption(default, kind: str, doc: str, model_only: bool = False, choices: tuple[str, ...] = ()):
    """One assumption: its default, kind (count: a whole number; size: bytes, ``2GiB``;
    fraction: (0, 1]; share: [0, 1], true and false read as 1 and 0; number: a real in [0, 1e6];
    flag: true/false; choice: one of ``choices``) and meaning."""
    return field(default=default, metadata={"kind": kind, "doc": doc, "model_only": model_only,
                                            "choices": choices})


@dataclass(frozen=True)
class Assumptions:
    prefill_chunk_tokens: int = assumption(
        8192, "count", "tokens in the largest forward step (vLLM's default max_num_batched_tokens with "
                       "chunked prefill); sizes the activation workspace", model_only=True)
    activation_bytes: int = assumption(2, "count", "bytes per activation value (bf16 compute)", model_only=True)
    logits_bytes: int = assumption(4, "count", "bytes per logit (fp32 for sampling), one vocab row per sequence",
                                   model_only=True)
    runtime_overhead_bytes: float = assumption(
        2 * GiB, "size", "per GPU: CUDA context, CUDA graphs, library workspaces, allocator slack", model_only=True)
    unquantized_dtype: str = assumption(
        "bf16", "choice", "storage of embeddings, lm_head, router, norms and biases, and of components a "
                          "quantized checkpoint leaves unquantized", model_only=True,
        choices=tuple(d for d, t in WEIGHT_DTYPES.items() if not t.quantized))
    profile: str = assumption(
        "calibrated", "choice", "the serving model: calibrated (the mechanisms below at their values fitted to "
                                "published measurements, docs/method/calibration.md) or bound (the pure roofline: "
                                "mfu 0.4, hbm_efficiency 0.85, no overlap, the mechanisms neutral)",
        choices=("calibrated", "bound"))
    mfu: float = assumption(_FIT["mfu"], "fraction",
                            "achieved share of the dense peak FLOPs by large GEMMs (fitted; the bound's 0.4: Llama 3 "
                            "405B pre-training 38-43% BF16 MFU, arXiv 2407.21783 table 4)")
    hbm_efficiency: float = assumption(_FIT["hbm_efficiency"], "fraction",
                                       "achieved share of peak HBM bandwidth by weight reads (fitted; the bound's "
                                       "0.85: BabelStream triad H100 0.89, H200 0.86, A100 0.83)")
    gemm_half_rows: float = assumption(_FIT["gemm_half_rows"], "number",
                                       "rows (tokens) at which a GEMM reaches half its large-M efficiency: M / (M + "
                                       "this); an expert's rows are its share of the step's tokens (fitted)")
    expert_efficiency: float = assumption(_FIT["expert_efficiency"], "fraction",
                                          "grouped expert GEMMs' achieved share of a dense GEMM's compute efficiency "
                                          "(fitted)")
    attention_efficiency: float = assumption(_FIT["attention_efficiency"], "fraction",
                                             "decode attention kernels' (MLA and GQA) achieved share of a dense "
                                             "GEMM's compute efficiency for their score and value FLOPs; the KV cache "
                                             "is read at hbm_efficiency (fitted)")
    attention_dtype: str = assumption("bf16", "choice", "dtype of attention's score and value products (FlashMLA and "
                                                        "FlashAttention run BF16 beside FP8 or FP4 GEMMs); fp8 only "
                                                        "when the stack runs FP8 attention", choices=("bf16", "fp8"))
    layer_overhead_us: float = assumption(_FIT["layer_overhead_us"], "number",
                                          "fixed microseconds per layer and forward pass: kernel launches and "
                                          "synchronization that CUDA graphs do not remove (fitted)")
    rocm_efficiency: float = assumption(_FIT["rocm_efficiency"], "fraction",
                                        "AMD GPUs under today's ROCm serving stacks (SGLang, vLLM with aiter): the "
                                        "share of every CUDA-stack efficiency they reach (fitted on one source)")
    scaleup_efficiency: float = assumption(0.7, "fraction", "achieved share of the scale-up link rate per direction "
                                                            "(nccl-tests alltoall bus bandwidth on 8-GPU HGX: "
                                                            "0.63-0.71)")
    scaleout_efficiency: float = assumption(0.8, "fraction", "achieved share of the NIC line rate (DeepEP low-latency "
                                                             "all-to-all at EP32-256: 39-48 GB/s on a 50 GB/s CX7, "
                                                             "0.78-0.96)")
    mtp_acceptance: float = assumption(
        0.85, "fraction", "chance that each MTP draft token is accepted (DeepSeek-V3 technical report, arXiv "
                          "2412.19437 section 5.4.3: the second token is accepted 85-90% of the time); used with --mtp")
    gpu_memory_utilization: float = assumption(
        0.9, "fraction", "share of each GPU's capacity the serving stack may fill (vLLM's gpu_memory_utilization, "
                         "default 0.9); fit, the largest batch and the longest context are judged against it")
    comm_buffer_bytes: float = assumption(GiB, "size", "per GPU when GPUs > 1: all-to-all and collective buffers "
                                                       "(estimate)")
    comm_overlap: float = assumption(0.0, "share",
                                     "share of the communication hidden behind compute: 0 adds it all to the step (no "
                                     "overlap, most stacks' default); tbo: two-batch overlap as SGLang and DeepSeek run "
                                     "it, the share tbo_overlap; true: all of it")
    tbo_overlap: float = assumption(_FIT["tbo_overlap"], "share",
                                    "share of the communication two-batch overlap hides (comm_overlap=tbo; fitted on "
                                    "SGLang's two-batch-overlap deployments; the bound's 1)")
    load_fluctuation: bool = assumption(
        True, "flag", "the hottest EP rank of the step's own tokens sets its time: expected max over ranks of a "
                      "batch's routed load and touched experts (decode at batch 1 on EP8 reads 2.5 experts on the "
                      "slowest GPU, not 1); false: expected loads only (the large-batch limit)")
    compute_dtype: str = assumption("auto", "choice", "tensor-core dtype of the GEMMs; auto: the weight dtype's if "
                                                      "the GPU has it, else bf16", choices=("auto", *COMPUTE_DTYPES))
    local_overhead_bytes: float = assumption(
        GiB // 2, "size", "per GPU under a local runtime (llama.cpp, ktransformers: --host/--offload): its CUDA "
                          "context and buffers; local runtimes reserve no gpu_memory_utilization headroom")
    host_bandwidth_efficiency: float = assumption(
        0.5, "fraction", "achieved share of the host's peak memory bandwidth by CPU expert kernels reading "
                         "offloaded experts (--offload)")
    cpu_efficiency: float = assumption(0.5, "fraction", "achieved share of the host's peak FLOPs by CPU expert "
                                                        "kernels in prefill (--offload)")
    cpu_compute_dtype: str = assumption("fp32", "choice", "the CPU expert kernels' arithmetic: fp32 (AVX-512/AVX2 "
                                                          "kernels: llama.cpp, ktransformers 0.2), bf16 or int8 (AMX "
                                                          "kernels, ktransformers 0.3+)", choices=("fp32", "bf16", "int8"))
    pcie_efficiency: float = assumption(0.8, "fraction", "achieved share of the PCIe link's rate when experts "
                                                         "stream to the GPU (--expert-compute gpu)")
    a2a_kernel: str = assumption("low-latency", "choice",
                                 "expert-parallel all-to-all kernels of a decode-only step: low-latency (DeepEP's "
                                 "decode kernels: every token-expert pair sent on its own) or normal (one crossing "
                                 "per node, forwarded inside it; what prefill and mixed steps use; the bound's)",
                                 choices=("low-latency", "normal"))
    dispatch_dtype: str = assumption("fp8", "choice", "all-to-all dispatch payload: fp8 with one fp32 scale per 128 "
                                                      "values (DeepEP), fp8-noscale, bf16", choices=tuple(WIRE_DTYPES))
    combine_dtype: str = assumption("bf16", "choice", "all-to-all combine payload (bf16 in DeepEP)",
                                    choices=tuple(WIRE_DTYPES))

    @classmethod
    def for_profile(cls, profile: str, **values) -> "Assumptions":
        """The defaults of ``profile`` (calibrated or bound), then ``values``."""
        base = cls() if profile == "calibrated" else cls(**{**asdict(cls()), **BOUND, **BOUND_SETTINGS,
                                                             "profile": profile})
        return cls(**{**asdict(base), **values})

    def as_dict(self, deployment: bool = True) -> dict:
        """All assumptions; without a deployment only those the model-only numbers use."""
        d = asdict(self)
        return d if deployment else {k: d[k] for k in MODEL_ONLY}

    def runtime(self) -> Runtime:
        """The engine's view: numbers and flags (link efficiencies go with the links)."""
        return Runtime(prefill_chunk_tokens=self.prefill_chunk_tokens, activation_bytes=self.activation_bytes,
                       logits_bytes=self.logits_bytes, runtime_overhead_bytes=self.runtime_overhead_bytes,
                       comm_buffer_bytes=self.comm_buffer_bytes, mfu=self.mfu, hbm_efficiency=self.hbm_efficiency,
                       comm_overlap=self.comm_overlap, load_fluctuation=self.load_fluctuation,
                       gpu_memory_utilization=self.gpu_memory_utilization, gemm_half_rows=self.gemm_half_rows,
                       expert_efficiency=self.expert_efficiency, attention_efficiency=self.attention_efficiency,
                       layer_seconds=self.layer_overhead_us * 1e-6,
                       low_latency_a2a=self.a2a_kernel == "low-latency",
                       dispatch_bytes=WIRE_DTYPES[self.dispatch_dtype].bytes,
                       combine_bytes=WIRE_DTYPES[self.combine_dtype].bytes)

    def precision(self, weights_dtype: str, kv_dtype: str) -> Precision:
        """Bits per quantized matrix parameter and per other parameter, bytes per cached value.

        A quantized dtype leaves every other parameter in ``unquantized_dtype``; an unquantized
        one stores everything in itself.
        """
        d = WEIGHT_DTYPES[weights_dtype]
        base = WEIGHT_DTYPES[self.unquantized_dtype].bits if d.quantized else d.bits
        return Precision(quantized_bits=d.bits, unquantized_bits=base, kv_bytes=KV_DTYPES[kv_dtype].bytes)


DECLARED = {f.name: f.metadata for f in fields(Assumptions)}
"""name -> {kind, doc, model_only, choices}: the one declaration of every assumption."""
MODEL_ONLY = tuple(name for name, meta in DECLARED.items() if meta["model_only"])
DOCS = {name: meta["doc"] for name, meta in DECLARED.items()}


def with_overrides(base: Assumptions, pairs: list[str]) -> Assumptions:
    """Apply ``name=value`` overrides (``--assume``); unknown names and bad values are errors."""
    values = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in DECLARED:
            raise MoecalcError(f"expected NAME=VALUE with NAME one of {', '.join(DECLARED)}; got {pair!r}",
                               field="--assume")
        if name == "comm_overlap" and raw.strip().lower() == "tbo":
            values[name] = "tbo"
            continue
        values[name] = parse_assumption(name, raw.strip(), f"--assume {name}")
    profile = values.get("profile", base.profile)
    if profile == "bound" and base.profile != "bound":
        base = Assumptions(**{**base.as_dict(), **BOUND, **BOUND_SETTINGS, "profile": "bound"})
    merged = {**base.as_dict(), **values}
    if merged["comm_overlap"] == "tbo":
        merged["comm_overlap"] = merged["tbo_overlap"]
    return Assumptions(**merged)


REAL_RANGES = {        # kind -> (the values it takes, how an error says so)
    "share": (lambda v: 0 <= v <= 1, "a share in [0, 1] (or true, false; comm_overlap also tbo)"),
    "number": (lambda v: 0 <= v <= 1e6, "a number in [0, 1e6]"),
    "fraction": (lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
}


def parse_assumption(name: str, raw: str, field: str):
    """One assumption's value from text, by its kind; errors name ``field`` (the option typed)."""
    meta = DECLARED[name]
    kind = meta["kind"]
    if kind == "choice":
        if raw not in meta["choices"]:
            raise MoecalcError(f"must be one of {', '.join(meta['choices'])}, got {raw!r}", field=field)
        return raw
    if kind == "size":
        return parse_bytes(raw, field)
    if kind == "flag":
        if raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise MoecalcError(f"must be true or false, got {raw!r}", field=field)
        return raw.lower() in ("true", "yes", "1")
    if kind == "share" and raw.lower() in ("true", "yes", "false", "no"):
        return 1.0 if raw.lower() in ("true", "yes") else 0.0
    if kind in REAL_RANGES:
        inside, says = REAL_RANGES[kind]
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")                # NaN is inside no range
        if not inside(value):
            raise MoecalcError(f"must be {says}, got {raw!r}", field=field)
        return value
    return parse_count(raw, field)
