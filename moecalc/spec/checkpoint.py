"""A checkpoint's safetensors headers: exact bytes per dtype, the parameters they hold, and where
they differ from the count the config derives.

A safetensors file starts with an 8-byte length and a JSON header naming every tensor's dtype,
shape and byte range (https://huggingface.co/docs/safetensors). ``huggingface_hub`` reads those
headers from a folder or, over HTTP range requests, from the Hub, without the weights.

From the headers:
- **bytes** = the sum of every tensor's byte range (exact; quantization scales included);
- **parameters** = elements, except that quantization scales and zero points are no parameters
  (``weight_scale_inv``, ``weight_scale``, ``input_scale``, ``*_blocks``' ``*_scales``, ``scales``,
  ``qzeros``, ``g_idx``; known names only, as Gemma 4's ``per_expert_scale`` is a weight), MXFP4
  blocks pack two values a byte (``*_blocks``, U8), GPTQ/AWQ ``qweight`` packs 32/bits values an
  I32, and rotary frequencies stored as tensors are buffers (the router's
  ``e_score_correction_bias`` is counted with the router, as moecalc's count does);
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

_BUFFERS = re.compile(r"rotary_emb\.inv_freq$")
# quantization tensors by their known names only (Gemma 4's per_expert_scale is a parameter)
_SCALES = re.compile(r"(weight_scale_inv|weight_scale|input_scale|output_scale|\.[kvq]_scale|_zero_point|"
                     r"_blocks_scales|proj_scales|\.scales|\.qzeros|\.g_idx|\.absmax|\.quant_map|"
                     r"\.nested_absmax|\.nested_quant_map|\.quant_state\.[\w.]+)$")
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_COMPONENTS = (
    (re.compile(r"(^|\.)mtp[._]|(^|\.)mtp_layers\."), "mtp"),
    (re.compile(r"^(model\.)?(visual|vision_tower|vision_model|vision_embed|multi_modal_projector|mm_projector|"
                r"audio_tower|image_newline)"), "vision"),
    (re.compile(r"(embed_tokens|\.wte|tok_embeddings|word_embeddings|^backbone\.embeddings)\."), "embedding"),
    (re.compile(r"(^|\.)lm_head\.|^output\."), "lm_head"),
    (re.compile(r"shared_expert"), "shared_experts"),
    (re.compile(r"\.(experts)\."), "routed_experts"),
    (re.compile(r"\.(mlp|block_sparse_moe|feed_forward|moe|mixer)\.(gate|router)\.|\.router\."), "router"),
    # Nemotron-H names every block's module "mixer": attention and MLP blocks by their projections
    (re.compile(r"\.mixer\.(q_proj|k_proj|v_proj|o_proj)\."), "attention"),
    (re.compile(r"\.mixer\.(up_proj|down_proj|gate_proj)\."), "dense_ffn"),
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
                n = n * 32 // self.quant_bits
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
        held = dict(self.params_by_component)
        has_mtp = held.get("mtp", 0) > 0
        notes = []
        if has_mtp and not mtp:         # Qwen3-Next: MTP tensors its config does not count
            notes.append(f"the checkpoint's {held.pop('mtp'):,} MTP-module parameters are not in the config's "
                         f"count and are left out of the comparison")
            has_mtp = False
        derived = {k: v for k, v in by_component.items() if v}
        if has_mtp:
            derived["mtp"] = mtp
        expected, params = sum(derived.values()), sum(held.values())
        diff = {c: held.get(c, 0) - derived.get(c, 0) for c in sorted(set(derived) | set(held))}
        diff = {c: d for c, d in diff.items() if d}
        section = {
            "source": self.source, "files": self.files, "params": self.params, "bytes": self.bytes,
            "bytes_by_dtype": dict(sorted(self.bytes_by_dtype.items())),
            "params_by_component": dict(sorted(self.params_by_component.items())),
            "scale_bytes": self.scale_bytes, "buffer_params": self.buffer_params,
            "compared_params": params, "derived_params": expected, "matches": params == expected,
            "differences_by_component": diff if params != expected else {},
        }
        warnings = notes
        if params != expected:
            where = ", ".join(f"{c} {d:+,}" for c, d in diff.items()) or "no single component"
            warnings.append(f"the checkpoint holds {params:,} parameters, the config derives {expected:,} "
                            f"({params - expected:+,}{'; MTP modules included' if has_mtp else ''}): {where}")
        return section, warnings


def quant_bits(config) -> int:
    """The bits of a GPTQ/AWQ checkpoint's packed ``qweight`` (quantization_config.bits; 4)."""
    q = config.get("quantization_config") if isinstance(config, dict) else None
    bits = q.get("bits", 4) if isinstance(q, dict) else 4
    return bits if isinstance(bits, int) and not isinstance(bits, bool) and bits in (2, 3, 4, 8) else 4


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62


def tensor(name, dtype, shape, offsets, where: str) -> Tensor:
    """One header entry, checked: a dtype name, a shape of non-negative integers, two offsets."""
    if not isinstance(name, str) or not isinstance(dtype, str) or not dtype:
        raise MoecalcError(f"tensor {str(name)[:80]!r}: dtype must be a name, got {dtype!r}"[:200], file=where)
    if not isinstance(shape, (list, tuple)) or len(shape) > 16 or not all(_whole(d) for d in shape):
        raise MoecalcError(f"tensor {name[:80]!r}: shape must be non-negative integers, got {shape!r}"[:200],
                           file=where)
    if not isinstance(offsets, (list, tuple)) or len(offsets) != 2 or not all(_whole(o) for o in offsets) \
            or offsets[1] < offsets[0]:
        raise MoecalcError(f"tensor {name[:80]!r}: data_offsets must be [begin, end], got {offsets!r}"[:200],
                           file=where)
    return Tensor(dtype, tuple(shape), offsets[1] - offsets[0])


def _tensors(files_metadata: dict, where: str) -> dict[str, Tensor]:
    """{name: Tensor} over every file's header (``huggingface_hub``'s ``SafetensorsFileMetadata``)."""
    out = {}
    for file, meta in files_metadata.items():
        tensors = getattr(meta, "tensors", None)
        if not isinstance(tensors, dict):
            raise MoecalcError("header holds no tensor table", file=f"{where}/{file}")
        for name, info in tensors.items():
            out[name] = tensor(name, getattr(info, "dtype", None), getattr(info, "shape", None),
                               getattr(info, "data_offsets", None), f"{where}/{file}")
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
        bad = [n for n in names if not isinstance(n, str) or not n or "/" in n or "\\" in n or n in (".", "..")]
        if bad or not names:
            raise MoecalcError("weight_map must name files of this folder" + (f", got {bad[0]!r}" if bad else
                               " (it is empty)"), file=str(index))
        where = str(index)
    else:
        names = sorted(p.name for p in folder.glob("*.safetensors") if p.is_file())
        where = str(folder)
        shards = [re.search(r"-(\d+)-of-(\d+)\.safetensors$", n) for n in names]
        counts = {int(m.group(2)) for m in shards if m}
        if counts and (len(counts) > 1 or len(names) != counts.pop()):
            raise MoecalcError(f"holds {len(names)} safetensors files of a sharded checkpoint, not all its shards",
                               file=where)
    if not names:
        return None
    metadata = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise MoecalcError(f"names {name}, which the folder does not hold", file=where)
        try:
            metadata[name] = parse_local_safetensors_file_metadata(path)
        except Exception as exc:        # SafetensorsParsingError, OSError, a header that is not JSON
            raise MoecalcError(f"not a readable safetensors header ({type(exc).__name__})", file=str(path)) from None
    return Checkpoint(label, names, _tensors(metadata, str(folder)), num_layers, quant_bits)


def to_json(ck: Checkpoint) -> str:
    """The headers as moecalc caches them (``hub.py``: offline use of a repository read once)."""
    return json.dumps({"files": ck.files, "tensors": {n: [t.dtype, list(t.shape), t.bytes]
                                                      for n, t in ck.tensors.items()}})


def from_json(text: str, source: str, num_layers: int | None, quant_bits: int = 4) -> Checkpoint:
    """Read back ``to_json`` (anything else raises: the caller reads the headers again)."""
    data = json.loads(text)
    tensors = {n: tensor(n, d, s, [0, b] if _whole(b) else None, source) for n, (d, s, b) in data["tensors"].items()}
    if not isinstance(data["files"], list) or not all(isinstance(f, str) for f in data["files"]):
        raise MoecalcError("files must be names", file=source)
    return Checkpoint(source, data["files"], tensors, num_layers, quant_bits)


def from_hub_metadata(meta, source: str, num_layers: int | None, quant_bits: int = 4) -> Checkpoint:
    """From ``HfApi.get_safetensors_metadata``'s ``SafetensorsRepoMetadata``."""
    return Checkpoint(source, sorted(meta.files_metadata), _tensors(meta.files_metadata, source), num_layers,
                      quant_bits)
