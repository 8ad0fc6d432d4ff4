"""Named, overridable assumptions with documented defaults; every output lists the ones used."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from moecalc.engine.dtypes import WEIGHT_DTYPES
from moecalc.errors import MoecalcError
from moecalc.units import parse_bytes, parse_count

GiB = 1 << 30


@dataclass(frozen=True)
class Assumptions:
    prefill_chunk_tokens: int = 8192
    activation_bytes: int = 2
    logits_bytes: int = 4
    runtime_overhead_bytes: float = 2 * GiB
    unquantized_dtype: str = "bf16"
    mfu: float = 0.4
    hbm_efficiency: float = 0.85
    scaleup_efficiency: float = 0.7
    scaleout_efficiency: float = 0.8
    comm_buffer_bytes: float = 1 * GiB
    comm_overlap: bool = False
    load_fluctuation: bool = True
    compute_dtype: str = "auto"
    dispatch_dtype: str = "fp8"
    combine_dtype: str = "bf16"

    def as_dict(self, deployment: bool = True) -> dict:
        """All assumptions; without a deployment only those the model-only numbers use."""
        d = asdict(self)
        return d if deployment else {k: d[k] for k in MODEL_ONLY}


MODEL_ONLY = ("prefill_chunk_tokens", "activation_bytes", "logits_bytes", "runtime_overhead_bytes",
              "unquantized_dtype")

DOCS = {
    "prefill_chunk_tokens": "tokens in the largest forward step (vLLM's default max_num_batched_tokens "
                            "with chunked prefill); sizes the activation workspace",
    "activation_bytes": "bytes per activation value (bf16 compute)",
    "logits_bytes": "bytes per logit (fp32 for sampling), one vocab row per sequence",
    "runtime_overhead_bytes": "per GPU: CUDA context, CUDA graphs, library workspaces, allocator slack",
    "unquantized_dtype": "storage of embeddings, lm_head, router, norms and biases, and of components "
                         "a quantized checkpoint leaves unquantized",
    "mfu": "achieved share of the dense peak FLOPs (Llama 3 405B pre-training: 38-43% BF16 MFU, "
           "arXiv 2407.21783 table 4; PaLM 540B: 46.2%)",
    "hbm_efficiency": "achieved share of peak HBM bandwidth (BabelStream triad: H100 0.89, H200 0.86, "
                      "A100 0.83; FlashMLA decode 3000 of 3350 GB/s on H800)",
    "scaleup_efficiency": "achieved share of the scale-up link rate per direction (nccl-tests alltoall "
                          "bus bandwidth on 8-GPU HGX: 0.63-0.71)",
    "scaleout_efficiency": "achieved share of the NIC line rate (DeepEP low-latency all-to-all at "
                           "EP32-256: 39-48 GB/s on a 50 GB/s CX7, 0.78-0.96)",
    "comm_buffer_bytes": "per GPU when GPUs > 1: all-to-all and collective buffers (estimate)",
    "comm_overlap": "communication hidden behind compute (two micro-batches, as DeepSeek serves); "
                    "false adds it to the step",
    "load_fluctuation": "the hottest EP rank of the step's own tokens sets its time: expected max over ranks "
                        "of a batch's routed load and touched experts (decode at batch 1 on EP8 reads 2.5 "
                        "experts on the slowest GPU, not 1); false: expected loads only (the large-batch limit)",
    "compute_dtype": "tensor-core dtype of the GEMMs; auto: the weight dtype's if the GPU has it, else bf16",
    "dispatch_dtype": "all-to-all dispatch payload: fp8 with one fp32 scale per 128 values (DeepEP), "
                      "fp8-noscale, bf16",
    "combine_dtype": "all-to-all combine payload (bf16 in DeepEP)",
}


def with_overrides(base: Assumptions, pairs: list[str]) -> Assumptions:
    """Apply ``name=value`` overrides (``--assume``); unknown names and bad values are errors."""
    known = {f.name: f for f in fields(Assumptions)}
    values = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        field = f"--assume {name}"
        if not sep or name not in known:
            raise MoecalcError(f"expected NAME=VALUE with NAME one of {', '.join(known)}; got {pair!r}",
                               field="--assume")
        values[name] = parse_assumption(name, raw.strip(), field)
    return Assumptions(**{**base.as_dict(), **values})


def parse_assumption(name: str, raw: str, field: str):
    """One assumption's value from text; errors name ``field`` (the option the user typed)."""
    from moecalc.engine.dtypes import WIRE_DTYPES
    from moecalc.spec.hardware import COMPUTE_DTYPES

    choices = {"unquantized_dtype": [d for d, t in WEIGHT_DTYPES.items() if not t.quantized],
               "compute_dtype": ["auto", *COMPUTE_DTYPES],
               "dispatch_dtype": list(WIRE_DTYPES), "combine_dtype": list(WIRE_DTYPES)}
    if name in choices:
        if raw not in choices[name]:
            raise MoecalcError(f"must be one of {', '.join(choices[name])}, got {raw!r}", field=field)
        return raw
    if name.endswith("_bytes"):
        return parse_bytes(raw, field)
    if name in ("comm_overlap", "load_fluctuation"):
        if raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise MoecalcError(f"must be true or false, got {raw!r}", field=field)
        return raw.lower() in ("true", "yes", "1")
    if name == "mfu" or name.endswith("_efficiency"):
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value <= 1:
            raise MoecalcError(f"must be a fraction in (0, 1], got {raw!r}", field=field)
        return value
    return parse_count(raw, field)
