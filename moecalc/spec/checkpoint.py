"""A checkpoint's safetensors headers: exact bytes per dtype, the parameters they hold, and where
they differ from the count the config derives.

A safetensors file starts with an 8-byte length and a JSON header naming every tensor's dtype,
shape and byte range (https://huggingface.co/docs/safetensors). ``huggingface_hub`` reads those
headers from a folder or, over HTTP range requests, from the Hub, without the weights.

From the headers:
- **bytes** = the sum of every tensor's byte range (exact; quantization scales included);
- **parameters** = elements, except that quantization scales and zero points are no parameters
  (``*_scale_inv``, ``*_scale``, ``*_scales``, ``qzeros``, ``g_idx``), MXFP4 blocks pack two
  values a byte (``*_blocks``, U8), GPTQ/AWQ ``qweight`` packs 32/bits values an I32, and stored
  buffers are not parameters (``e_score_correction_bias``, ``rotary_emb.inv_freq``: transformers
  counts them as buffers);
- **components** by transformers' tensor names (embedding, attention, routed and shared
  experts, router, dense FFN, norms, mixer, vision, lm_head; a layer numbered past the config's
  ``num_hidden_layers`` or a ``mtp`` prefix is an MTP module).

The check holds the header count against the config-derived total (plus the MTP modules when the
checkpoint carries them). A mismatch names the components it falls in; the split by name is a
best reading of the family's naming, the totals are exact.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from moecalc.errors import MoecalcError

# huggingface_hub reads this when first imported: no telemetry or agent-registry request from a
# command that asked only for headers (set it to 0 to allow them)
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# dtype names as safetensors writes them -> ours
DTYPE_NAMES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F64": "fp64", "F8_E4M3": "fp8_e4m3",
               "F8_E5M2": "fp8_e5m2", "F8_E8M0": "e8m0", "I8": "int8", "U8": "uint8", "I16": "int16",
               "I32": "int32", "I64": "int64", "BOOL": "bool", "F4": "fp4"}

_BUFFERS = re.compile(r"(e_score_correction_bias|rotary_emb\.inv_freq)$")
_SCALES = re.compile(r"(_scale_inv|_scale|_scales|\.scales|\.qzeros|\.g_idx|_zero_point|\.absmax)$")
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_COMPONENTS = (
    (re.compile(r"(^|\.)mtp[._]|(^|\.)mtp_layers\."), "mtp"),
    (re.compile(r"^(model\.)?(visual|vision_tower|vision_model|vision_embed|multi_modal_projector|mm_projector|"
                r"audio_tower|image_newline)"), "vision"),
    (re.compile(r"(embed_tokens|\.wte|tok_embeddings|word_embeddings)\."), "embedding"),
    (re.compile(r"(^|\.)lm_head\.|^output\."), "lm_head"),
    (re.compile(r"shared_expert"), "shared_experts"),
    (re.compile(r"\.(experts)\."), "routed_experts"),
    (re.compile(r"\.(mlp|block_sparse_moe|feed_forward|moe)\.(gate|router)\.|\.router\."), "router"),
    (re.compile(r"\.(self_attn|attention|attn|cross_attn)\."), "attention"),
    (re.compile(r"\.(mixer|linear_attn|mamba|ssm)\."), "mixer"),
    (re.compile(r"\.(mlp|feed_forward|ffn)\."), "dense_ffn"),
    (re.compile(r"norm"), "norms"),
)


def component(name: str, num_layers: int | None = None) -> str:
    """The component a tensor named as transformers names it belongs to (``other``: unknown)."""
    layer = _LAYER.search(name)
    if layer and num_layers is not None and int(layer.group(1)) >= num_layers:
        return "mtp"
    for pattern, comp in _COMPONENTS:
        if pattern.search(name):
            return comp
    return "other"


@dataclass(frozen=True)
class Tensor:
    dtype: str            # as safetensors writes it (BF16, F8_E4M3, ...)
    shape: tuple[int, ...]
    bytes: int


@dataclass
class Checkpoint:
    """The headers of a checkpoint's safetensors files, read as a parameter count."""
    source: str                                  # folder, or hub id @ commit
    files: list[str]
    tensors: dict[str, Tensor]
    num_layers: int | None = None
    quant_bits: int = 4                          # GPTQ/AWQ bits (qweight packing)
    params_by_component: dict[str, int] = field(init=False)
    bytes_by_dtype: dict[str, int] = field(init=False)
    buffer_params: int = field(init=False)
    scale_bytes: int = field(init=False)

    def __post_init__(self):
        self.params_by_component, self.bytes_by_dtype = {}, {}
        self.buffer_params = self.scale_bytes = 0
        for name, t in self.tensors.items():
            dtype = DTYPE_NAMES.get(t.dtype, t.dtype.lower())
            self.bytes_by_dtype[dtype] = self.bytes_by_dtype.get(dtype, 0) + t.bytes
            n = 1
            for d in t.shape:
                n *= d
            if _BUFFERS.search(name):
                self.buffer_params += n
                continue
            if _SCALES.search(name):
                self.scale_bytes += t.bytes
                continue
            if name.endswith("_blocks") and t.dtype == "U8":
                n *= 2                           # MXFP4: two 4-bit values a byte
            elif name.endswith("qweight") and t.dtype == "I32":
                n *= 32 // self.quant_bits
            comp = component(name, self.num_layers)
            self.params_by_component[comp] = self.params_by_component.get(comp, 0) + n

    @property
    def params(self) -> int:
        """Parameters in the files, MTP modules included."""
        return sum(self.params_by_component.values())

    @property
    def bytes(self) -> int:
        return sum(self.bytes_by_dtype.values())

    def check(self, by_component: dict[str, int], mtp: int) -> tuple[dict, list[str]]:
        """The ``checkpoint`` section and its warnings, against the config-derived
        ``by_component`` (the main model) and ``mtp`` (its MTP modules' parameters)."""
        has_mtp = self.params_by_component.get("mtp", 0) > 0
        derived = {k: v for k, v in by_component.items() if v}
        if has_mtp:
            derived["mtp"] = mtp
        expected = sum(derived.values())
        diff = {c: self.params_by_component.get(c, 0) - derived.get(c, 0)
                for c in sorted(set(derived) | set(self.params_by_component))}
        diff = {c: d for c, d in diff.items() if d}
        section = {
            "source": self.source, "files": self.files, "params": self.params, "bytes": self.bytes,
            "bytes_by_dtype": dict(sorted(self.bytes_by_dtype.items())),
            "params_by_component": dict(sorted(self.params_by_component.items())),
            "scale_bytes": self.scale_bytes, "buffer_params": self.buffer_params,
            "derived_params": expected, "matches": self.params == expected,
            "differences_by_component": diff if self.params != expected else {},
        }
        warnings = []
        if self.params != expected:
            where = ", ".join(f"{c} {d:+,}" for c, d in diff.items()) or "no single component"
            warnings.append(f"the checkpoint holds {self.params:,} parameters, the config derives {expected:,} "
                            f"({self.params - expected:+,}{'; MTP modules included' if has_mtp else ''}): {where}")
        return section, warnings


def quant_bits(config) -> int:
    """The bits of a GPTQ/AWQ checkpoint's packed ``qweight`` (quantization_config.bits; 4)."""
    q = config.get("quantization_config") if isinstance(config, dict) else None
    bits = q.get("bits", 4) if isinstance(q, dict) else 4
    return bits if isinstance(bits, int) and not isinstance(bits, bool) and bits in (2, 3, 4, 8) else 4


def _tensors(files_metadata: dict) -> dict[str, Tensor]:
    """{name: Tensor} over every file's header (``huggingface_hub``'s ``SafetensorsFileMetadata``)."""
    out = {}
    for meta in files_metadata.values():
        for name, info in meta.tensors.items():
            begin, end = info.data_offsets
            out[name] = Tensor(info.dtype, tuple(int(d) for d in info.shape), int(end) - int(begin))
    return out


def from_folder(folder: Path, label: str, num_layers: int | None, quant_bits: int = 4) -> Checkpoint | None:
    """The headers of a folder's ``*.safetensors`` (those its index names, when it has one);
    None when it holds none. Read by ``huggingface_hub`` (the header only, never the tensors)."""
    from huggingface_hub import parse_local_safetensors_file_metadata

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise MoecalcError("not a safetensors index (no weight_map of tensor -> file)",
                               file=str(index)) from None
    else:
        names = sorted(p.name for p in folder.glob("*.safetensors"))
    if not names:
        return None
    metadata = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise MoecalcError(f"the index names {name}, which the folder does not hold", file=str(index))
        try:
            metadata[name] = parse_local_safetensors_file_metadata(path)
        except Exception as exc:        # SafetensorsParsingError, OSError, a header that is not JSON
            raise MoecalcError(f"not a readable safetensors header ({type(exc).__name__})", file=str(path)) from None
    return Checkpoint(label, names, _tensors(metadata), num_layers, quant_bits)


def to_json(ck: Checkpoint) -> str:
    """The headers as moecalc caches them (``hub.py``: offline use of a repository read once)."""
    return json.dumps({"files": ck.files, "tensors": {n: [t.dtype, list(t.shape), t.bytes]
                                                      for n, t in ck.tensors.items()}})


def from_json(text: str, source: str, num_layers: int | None, quant_bits: int = 4) -> Checkpoint:
    data = json.loads(text)
    tensors = {n: Tensor(d, tuple(s), b) for n, (d, s, b) in data["tensors"].items()}
    return Checkpoint(source, data["files"], tensors, num_layers, quant_bits)


def from_hub_metadata(meta, source: str, num_layers: int | None, quant_bits: int = 4) -> Checkpoint:
    """From ``HfApi.get_safetensors_metadata``'s ``SafetensorsRepoMetadata``."""
    return Checkpoint(source, sorted(meta.files_metadata), _tensors(meta.files_metadata), num_layers, quant_bits)
