"""Hugging Face config.json -> model spec. The per-family rules live in ``hf_families``."""

from __future__ import annotations

from pathlib import Path

from moecalc.engine.schedule import QUANTIZABLE
from moecalc.errors import MoecalcError
from moecalc.spec.types import MAX_DIMENSION
from moecalc.spec.model import ModelSpec

_MISSING = object()


class ConfigReader:
    """Typed access to a config.json mapping; every error names the file and the config key."""

    def __init__(self, data: dict, label: str, prefix: str = "") -> None:
        self.data, self.label, self.prefix = data, label, prefix

    def _fail(self, key: str, message: str):
        raise MoecalcError(message, file=self.label, field=self.prefix + key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, default=_MISSING):
        value = self.data.get(key)
        if value is None:
            if default is _MISSING:
                self._fail(key, "required key is missing")
            return default
        return value

    def int(self, key: str, default=_MISSING, minimum: int = 1):
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(key, f"must be an integer, got {value!r}")
        if value < minimum:
            self._fail(key, f"must be >= {minimum}, got {value}")
        return value

    def bool(self, key: str, default=_MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self._fail(key, f"must be true or false, got {value!r}")
        return value

    def str(self, key: str, default=_MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            self._fail(key, f"must be a string, got {value!r}")
        return value

    def list(self, key: str, default=_MISSING) -> list:
        value = self.raw(key, default)
        if not isinstance(value, list):
            self._fail(key, f"must be a list, got {value!r}")
        return value

    def sub(self, key: str) -> "ConfigReader":
        value = self.raw(key)
        if not isinstance(value, dict):
            self._fail(key, f"must be a mapping, got {type(value).__name__}")
        return ConfigReader(value, self.label, f"{self.prefix}{key}.")


def attention_kind(num_heads: int, num_kv_heads: int) -> str:
    return "mha" if num_kv_heads == num_heads else "mqa" if num_kv_heads == 1 else "gqa"


_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}

# Module names of each component as the families spell them: an entry of a config's list of
# unquantized modules (``modules_to_not_convert``, ``ignore``, ``exclude_modules``) excludes a
# component when it matches one of its names (a ``re:`` entry as a regular expression, any other
# as a dotted part of the name, ``*`` as a wildcard).
_COMPONENT_NAMES = {
    "attention": ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.o_proj",
                  "model.layers.0.attention.query_key_value"),
    "mixer": ("model.layers.0.linear_attn.in_proj_qkvz", "model.layers.0.mixer.in_proj",
              "model.layers.0.mamba.in_proj", "model.layers.0.self_attn.qkv"),
    "dense_ffn": ("model.layers.0.mlp.gate_proj", "model.layers.0.mlp.down_proj"),
    "routed_experts": ("model.layers.9.mlp.experts.0.gate_proj", "model.layers.9.mlp.experts.0.down_proj",
                       "model.layers.9.block_sparse_moe.experts.0.w1", "model.layers.9.mixer.experts.0.up_proj"),
    "shared_experts": ("model.layers.9.mlp.shared_experts.gate_proj", "model.layers.9.mlp.shared_expert.down_proj"),
}


def _matches(entry: str, name: str) -> bool:
    import fnmatch
    import re

    if entry.startswith("re:"):
        try:
            return re.fullmatch(entry[3:], name) is not None
        except re.error:
            return False
    if "*" in entry:
        return fnmatch.fnmatch(name, entry) or fnmatch.fnmatch(name, f"*{entry}*")
    return f".{entry}." in f".{name}."


def _unquantized(entries: list) -> list[str]:
    """The quantizable components the config keeps unquantized, in QUANTIZABLE order."""
    return [c for c in QUANTIZABLE
            if any(_matches(str(e), n) for e in entries for n in _COMPONENT_NAMES.get(c, ()))]


def _compressed_tensors(q: ConfigReader) -> str:
    """compressed-tensors (llm-compressor): the one weight scheme of its config groups."""
    groups = q.sub("config_groups")
    schemes = []
    for name in groups.data:
        w = groups.sub(name).sub("weights")
        bits, kind, strategy = w.int("num_bits"), w.str("type", "int"), w.str("strategy", "tensor")
        group = w.int("group_size", 0, minimum=0) if strategy == "group" else 0
        if kind == "float" and bits == 8:
            schemes.append("fp8" if strategy == "block" else "fp8-channel" if strategy == "channel" else "fp8-tensor")
        elif kind == "float" and bits == 4:
            schemes.append("nvfp4")
        elif kind == "int" and bits == 4 and group in (32, 128):
            schemes.append("int4-g32" if group == 32 else "int4")
        elif kind == "int" and bits == 8:
            schemes.append("int8" if strategy == "group" else "int8-channel")
        else:
            w._fail("num_bits", f"{bits}-bit {kind} weights with strategy {strategy!r}"
                                + (f" and group_size {group}" if group else "")
                                + " have no moecalc dtype; give --weights-dtype")
    if len(set(schemes)) != 1:
        groups._fail(next(iter(groups.data), ""), f"config groups mix weight schemes {sorted(set(schemes))}; "
                                                  "give --weights-dtype (a COMPONENT=DTYPE list)")
    return schemes[0]


def _modelopt(q: ConfigReader) -> str:
    """NVIDIA ModelOpt: quant_algo NVFP4 (FP4 values, an FP8 scale per 16) or FP8 (per tensor)."""
    algo = q.str("quant_algo")
    dtype = {"NVFP4": "nvfp4", "FP8": "fp8-tensor", "W4A8_AWQ": "int4", "W4A16_AWQ": "int4"}.get(algo.upper())
    if dtype is None:
        q._fail("quant_algo", f"{algo!r} has no moecalc dtype (NVFP4, FP8, W4A16_AWQ); give --weights-dtype")
    return dtype


def weight_dtypes(cfg: ConfigReader) -> dict:
    """``dtypes`` section from ``quantization_config`` (or ``torch_dtype``/``dtype``).

    Read: fp8 (block or per tensor), mxfp4, gptq/awq, compressed-tensors (int4/int8 packed, fp8,
    nvfp4) and modelopt (NVFP4, FP8), with their lists of unquantized modules. Any other method
    imports with ``unknown_quantization`` set: moecalc then asks for --weights-dtype.
    """
    name = cfg.data.get("torch_dtype") or cfg.data.get("dtype") or "bfloat16"
    if not isinstance(name, str):
        cfg._fail("torch_dtype" if "torch_dtype" in cfg.data else "dtype", f"must be a dtype name, got {name!r}"[:120])
    base = _TORCH_DTYPES.get(name, "bf16")
    kv = "fp16" if base == "fp16" else "bf16"
    if not cfg.has("quantization_config"):
        return {"weights": base, "kv_cache": kv}
    q = cfg.sub("quantization_config")
    method = q.str("quant_method")
    if method == "fp8":
        dtype = "fp8" if q.has("weight_block_size") else "fp8-tensor"
    elif method == "mxfp4":
        dtype = "mxfp4"
    elif method in ("gptq", "awq"):
        bits = q.int("bits")
        if bits not in (4, 8):
            q._fail("bits", f"{bits}-bit {method} is not supported; 4 or 8")
        dtype = f"int{bits}"
    elif method == "compressed-tensors":
        dtype = _compressed_tensors(q)
    elif method == "modelopt":
        dtype = _modelopt(q)
        if str(q.raw("kv_cache_quant_algo", "")).upper() == "FP8":
            kv = "fp8"
    else:
        return {"weights": base, "kv_cache": kv,
                "unknown_quantization": f"quantization_config.quant_method {method!r} of {cfg.label}"}
    skipped = (q.list("modules_to_not_convert", []) + q.list("ignored_layers", []) + q.list("ignore", [])
               + q.list("exclude_modules", []))
    excluded = set(_unquantized(skipped))
    quantized = [c for c in QUANTIZABLE if c not in excluded]
    return {"weights": dtype, "quantized_components": quantized, "kv_cache": kv}


def default_name(label: str) -> str:
    path = Path(label)
    return (path.parent.name if path.name == "config.json" and path.parent.name else path.stem) or "model"


def spec_dict_from_config(data, label: str, name: str | None = None) -> dict:
    """The spec (as a plain mapping, YAML-ready) equivalent to a config.json mapping (``name``:
    the model's name; the config's folder by default)."""
    from moecalc.spec.hf_families import FAMILIES

    if not isinstance(data, dict):
        raise MoecalcError(f"top level must be a JSON object, not {type(data).__name__}", file=label)
    cfg = ConfigReader(data, label)
    model_type = cfg.str("model_type")
    family = FAMILIES.get(model_type)
    if family is None:
        raise MoecalcError(f"unknown model_type {model_type!r}; supported: {', '.join(sorted(FAMILIES))}",
                           file=label, field="model_type")
    body = family(cfg)
    spec = {"name": name or default_name(label), "family": model_type, "source": f"Hugging Face config.json ({Path(label).name})"}
    spec.update(body)
    spec.setdefault("dtypes", weight_dtypes(cfg))
    spec.update(context_limit(cfg))
    return spec


def context_limit(cfg: ConfigReader) -> dict:
    """``max_position_embeddings``, a one-phrase account of its rope scaling and, where it
    differs, ``max_model_len``: the default longest sequence vLLM derives from them
    (``_get_and_verify_max_len``: yarn serves original_max_position_embeddings x factor,
    linear and dynamic scaling max_position_embeddings x factor, llama3 and longrope the
    max_position_embeddings as they are). Read from the config or its language model's
    ``text_config``; absent (never an error: it is metadata) when missing or not a count."""
    text = cfg.data.get("text_config") if isinstance(cfg.data.get("text_config"), dict) else cfg.data
    longest = text.get("max_position_embeddings", cfg.data.get("max_position_embeddings"))
    if isinstance(longest, bool) or not isinstance(longest, int) or not 0 < longest <= MAX_DIMENSION:
        return {}                   # absent, malformed, or longer than any --context moecalc takes
    out = {"max_position_embeddings": longest}
    scaling = text.get("rope_scaling") or cfg.data.get("rope_scaling") or text.get("rope_parameters")
    if not isinstance(scaling, dict):
        return out
    kind, factor = scaling.get("rope_type") or scaling.get("type"), scaling.get("factor")
    original = scaling.get("original_max_position_embeddings")
    if not (isinstance(kind, str) and kind != "default" and isinstance(factor, (int, float))
            and not isinstance(factor, bool) and 0 < factor < 1e6):
        return out
    has_original = isinstance(original, int) and not isinstance(original, bool) and 0 < original < 2**31
    out["rope_scaling"] = f"{kind[:40]} x{factor:g}" + (f" over {original:,}" if has_original else "")
    served = (original * factor if kind == "yarn" and has_original else
              longest * factor if kind in ("linear", "dynamic") else longest)
    if int(served) != longest and 0 < served <= MAX_DIMENSION:
        out["max_model_len"] = int(served)
    return out


def spec_from_config(data, label: str, name: str | None = None) -> ModelSpec:
    from moecalc.spec.load import validate_spec

    return validate_spec(spec_dict_from_config(data, label, name), f"{label} (as converted)")
