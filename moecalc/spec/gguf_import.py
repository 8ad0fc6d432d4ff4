"""A GGUF file (llama.cpp) as a model spec: its header's metadata becomes the family's config,
and its tensors' real types and sizes become the weight bytes, exact to the byte, by component.

Read with llama.cpp's ``gguf`` package (``pip install 'moecalc[gguf]'``), which maps the file
and parses the header without reading the weights. Architectures read: llama (and Mixtral, a
llama with experts), qwen2, qwen3, qwen2moe, qwen3moe.
"""

from __future__ import annotations

import re
from pathlib import Path

from moecalc.errors import MoecalcError

# GGUF tensor name -> component (llama.cpp's names: token_embd, output, blk.N.attn_*, ffn_*_exps, ...)
_COMPONENTS = (
    (re.compile(r"^token_embd\."), "embedding"),
    (re.compile(r"^output\."), "lm_head"),
    (re.compile(r"\.attn_(q|k)_norm\."), "attention"),          # moecalc counts q/k norms in attention
    (re.compile(r"(^output_norm|_norm)\."), "norms"),
    (re.compile(r"\.ffn_gate_inp\."), "router"),
    (re.compile(r"\.ffn_(gate|up|down|gate_up)_exps\."), "routed_experts"),
    (re.compile(r"\.ffn_(gate|up|down)_shexp\.|\.ffn_gate_inp_shexp\."), "shared_experts"),
    (re.compile(r"\.ffn_(gate|up|down)\."), "dense_ffn"),
    (re.compile(r"\.attn_"), "attention"),
)
# tensors that are no weights: llama.cpp stores Llama 3's rope scaling factors as a tensor that
# transformers computes (its parameter counts leave it out)
_BUFFERS = re.compile(r"^rope_freqs\.")
# ggml type names that are not moecalc's dtype names
_TYPE_NAMES = {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}
_FAMILY = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe"}


def _reader(path: Path, label: str):
    try:
        from gguf import GGUFReader
    except ImportError:
        raise MoecalcError("reading a GGUF file needs the gguf package: pip install 'moecalc[gguf]'",
                           file=label) from None
    try:
        return GGUFReader(str(path))
    except Exception as exc:        # the package raises ValueError, struct.error, ... on a bad file
        raise MoecalcError(f"not a readable GGUF file ({type(exc).__name__}: {exc})"[:300], file=label) from None


def _value(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


def component(name: str) -> str | None:
    """The moecalc component a GGUF tensor belongs to (None: unknown)."""
    for pattern, comp in _COMPONENTS:
        if pattern.search(name):
            return comp
    return None


def read_gguf(path: Path, label: str) -> tuple[dict, dict[str, int], dict[str, int], str]:
    """(the HF-style config the family reader takes, bytes by component, bytes by GGML type,
    the bulk's type name)."""
    reader = _reader(path, label)
    arch = _value(reader, "general.architecture")
    if arch not in _FAMILY:
        raise MoecalcError(f"GGUF architecture {arch!r} is not read yet (known: {', '.join(_FAMILY)}); use the "
                           f"model's config.json", file=label, field="general.architecture")

    def key(name, default=None):
        return _value(reader, f"{arch}.{name}", default)

    tokens = _value(reader, "tokenizer.ggml.tokens")
    names = {t.name for t in reader.tensors}
    heads = key("attention.head_count")
    config = {
        "model_type": _FAMILY[arch], "hidden_size": key("embedding_length"), "num_hidden_layers": key("block_count"),
        "num_attention_heads": heads, "num_key_value_heads": key("attention.head_count_kv", heads),
        "vocab_size": key("vocab_size") or (len(tokens) if tokens is not None else None),
        "intermediate_size": key("feed_forward_length"), "tie_word_embeddings": "output.weight" not in names,
    }
    if key("attention.key_length"):
        config["head_dim"] = key("attention.key_length")
    experts = key("expert_count")
    if experts:
        config.update(num_experts_per_tok=key("expert_used_count"))
        if arch == "llama":
            config.update(model_type="mixtral", num_local_experts=experts)
        else:
            config.update(num_experts=experts, moe_intermediate_size=key("expert_feed_forward_length"))
            if arch == "qwen2moe":
                config["shared_expert_intermediate_size"] = key("expert_shared_feed_forward_length", 0)
    if arch == "qwen2":
        config["qkv_bias"] = True
    missing = [k for k, v in config.items() if v is None]
    if missing:
        raise MoecalcError(f"the header lacks {arch}'s {missing[0]}", file=label, field=f"{arch}.{missing[0]}")
    by_component: dict[str, int] = {}
    by_type: dict[str, int] = {}
    tensors = [t for t in reader.tensors if not _BUFFERS.match(t.name)]
    for t in tensors:
        comp = component(t.name)
        if comp is None:
            raise MoecalcError(f"tensor {t.name!r} belongs to no component moecalc knows", file=label)
        by_component[comp] = by_component.get(comp, 0) + int(t.n_bytes)
        kind = _TYPE_NAMES.get(t.tensor_type.name.lower(), t.tensor_type.name.lower())
        by_type[kind] = by_type.get(kind, 0) + int(t.n_bytes)
    bulk = max((t for t in tensors if component(t.name) in ("routed_experts", "dense_ffn")),
               key=lambda t: int(t.n_bytes), default=tensors[0]).tensor_type.name.lower()
    bulk = _TYPE_NAMES.get(bulk, bulk)
    return config, by_component, by_type, bulk


def spec_from_gguf(path: Path, label: str):
    """The spec of a GGUF file: its family's reader on the header's config, dtypes whose bits
    give each component exactly the bytes of its tensors (``dtypes.component_bytes``)."""
    from moecalc.engine.dtypes import WEIGHT_DTYPES
    from moecalc.spec.hf_import import spec_dict_from_config
    from moecalc.spec.load import validate_spec

    config, by_component, by_type, bulk = read_gguf(path, label)
    spec = spec_dict_from_config(config, label)
    spec["source"] = f"GGUF file ({Path(label).name}): {', '.join(f'{k} {v:,} B' for k, v in sorted(by_type.items()))}"
    spec["dtypes"] = {"weights": bulk if bulk in WEIGHT_DTYPES else "q4_k", "kv_cache": "fp16",
                      "component_bytes": by_component}
    return validate_spec(spec, f"{label} (as read)")
