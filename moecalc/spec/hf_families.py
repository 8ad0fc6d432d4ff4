"""Per-family rules mapping a Hugging Face config.json onto a moecalc spec.

To add a family: write a function ``cfg -> spec fields`` here (mirroring the family's
``modeling_*.py`` in transformers: which projections carry biases, which norms exist, which
layers are MoE) and register it in ``FAMILIES``. Nothing else needs to change.
"""

from __future__ import annotations

from moecalc.spec.hf_import import ConfigReader, attention_kind, weight_dtypes


def _core(c: ConfigReader) -> dict:
    return {"hidden_size": c.int("hidden_size"), "num_layers": c.int("num_hidden_layers"),
            "vocab_size": c.int("vocab_size"), "tie_embeddings": c.bool("tie_word_embeddings", False)}


def _heads(c: ConfigReader, heads_key: str, kv_key: str) -> tuple[int, int]:
    heads = c.int(heads_key)
    kv = c.int(kv_key, heads)
    if heads % kv:
        c._fail(kv_key, f"{heads_key} ({heads}) is not divisible by {kv_key} ({kv})")
    return heads, kv


def _experts(c: ConfigReader, experts_key: str, k_key: str, width_key: str) -> dict:
    """Routed experts, top-k and expert width, under the family's own key names."""
    experts, k = c.int(experts_key), c.int(k_key)
    if k > experts:
        c._fail(k_key, f"{k} routed experts per token exceeds {experts_key} ({experts})")
    return {"num_experts": experts, "top_k": k, "expert_intermediate_size": c.int(width_key)}


def _gqa(c: ConfigReader, *, qkv_bias: bool, o_bias: bool, qk_norm: str = "none") -> dict:
    heads, kv = _heads(c, "num_attention_heads", "num_key_value_heads")
    att = {"type": attention_kind(heads, kv), "num_heads": heads}
    if att["type"] == "gqa":
        att["num_kv_heads"] = kv
    if c.has("head_dim"):
        att["head_dim"] = c.int("head_dim")
    att.update(qkv_bias=qkv_bias, o_bias=o_bias, qk_norm=qk_norm)
    return att


def _cyclic(types: list[str]) -> list[str]:
    """Shortest pattern that, repeated, gives ``types`` ([sliding, full] for gpt-oss)."""
    for p in range(1, len(types) + 1):
        if all(t == types[i % p] for i, t in enumerate(types)):
            return types[:p]
    return types


def _layer_types(c: ConfigReader, att: dict, *, default_sliding: bool = False) -> None:
    """Sliding/chunked layers from ``layer_types`` (new configs) or a global ``sliding_window``."""
    names = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked"}
    if c.has("layer_types"):
        types = [names.get(t) for t in c.list("layer_types")]
        if None in types:
            c._fail("layer_types", f"unknown entry; known: {', '.join(names)}")
        if "sliding" in types:
            att["sliding_window"] = c.int("sliding_window")
        if "chunked" in types:
            att["chunk_size"] = c.int("attention_chunk_size")
        if set(types) != {"full"}:
            att["layer_types"] = _cyclic(types)
    elif default_sliding and c.has("sliding_window"):
        att["sliding_window"] = c.int("sliding_window")
        att["layer_types"] = ["sliding"]


def _ffn(c: ConfigReader, key: str = "intermediate_size", bias: bool = False) -> dict:
    return {"intermediate_size": c.int(key), "gated": True, "bias": bias}


def llama(c: ConfigReader) -> dict:
    """LlamaForCausalLM: attention_bias on q/k/v/o, mlp_bias on the MLP."""
    bias = c.bool("attention_bias", False)
    att = _gqa(c, qkv_bias=bias, o_bias=bias)
    return {**_core(c), "attention": att, "ffn": _ffn(c, bias=c.bool("mlp_bias", False))}


def mistral(c: ConfigReader) -> dict:
    """MistralForCausalLM: Llama without biases; every layer slides when sliding_window is set."""
    att = _gqa(c, qkv_bias=False, o_bias=False)
    _layer_types(c, att, default_sliding=True)
    return {**_core(c), "attention": att, "ffn": _ffn(c)}


def _qwen_sliding(c: ConfigReader, att: dict) -> None:
    """Qwen2/3: layers i >= max_window_layers slide when use_sliding_window is true."""
    if c.has("layer_types"):
        _layer_types(c, att)
    elif c.bool("use_sliding_window", False) and c.has("sliding_window"):
        L = c.int("num_hidden_layers")
        first = min(c.int("max_window_layers", L, minimum=0), L)
        if first < L:
            att["sliding_window"] = c.int("sliding_window")
            att["layer_types"] = _cyclic(["full"] * first + ["sliding"] * (L - first))


def qwen2(c: ConfigReader) -> dict:
    """Qwen2ForCausalLM: biases on q/k/v, none on o."""
    att = _gqa(c, qkv_bias=True, o_bias=False)
    _qwen_sliding(c, att)
    return {**_core(c), "attention": att, "ffn": _ffn(c)}


def qwen3(c: ConfigReader) -> dict:
    """Qwen3ForCausalLM: attention_bias on q/k/v/o, per-head q/k RMSNorm."""
    bias = c.bool("attention_bias", False)
    att = _gqa(c, qkv_bias=bias, o_bias=bias, qk_norm="per_head")
    _qwen_sliding(c, att)
    return {**_core(c), "attention": att, "ffn": _ffn(c)}


def _qwen_moe_layers(c: ConfigReader, moe: dict) -> None:
    """Layer i is MoE unless listed in mlp_only_layers, when (i + 1) % decoder_sparse_step == 0."""
    step = c.int("decoder_sparse_step", 1)
    dense = set(c.list("mlp_only_layers", []))
    if dense:
        L = c.int("num_hidden_layers")
        moe["layers"] = [i for i in range(L) if i not in dense and (i + 1) % step == 0]
    else:
        moe["every_n"] = step


def mixtral(c: ConfigReader) -> dict:
    """MixtralForCausalLM: every layer MoE, experts of intermediate_size, no shared expert."""
    att = _gqa(c, qkv_bias=False, o_bias=False)
    _layer_types(c, att, default_sliding=True)
    moe = _experts(c, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    return {**_core(c), "attention": att, "moe": moe}


def qwen2_moe(c: ConfigReader) -> dict:
    """Qwen2MoeForCausalLM: q/k/v biases; one gated shared expert (gate: h -> 1)."""
    att = _gqa(c, qkv_bias=c.bool("qkv_bias", True), o_bias=False)
    _qwen_sliding(c, att)
    moe = _experts(c, "num_experts", "num_experts_per_tok", "moe_intermediate_size")
    shared = c.int("shared_expert_intermediate_size", 0, minimum=0)
    if shared:
        moe.update(num_shared_experts=1, shared_expert_intermediate_size=shared, shared_expert_gate=True)
    _qwen_moe_layers(c, moe)
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": moe}


def qwen3_moe(c: ConfigReader) -> dict:
    """Qwen3MoeForCausalLM: Qwen3 attention (q/k norms), no shared expert."""
    bias = c.bool("attention_bias", False)
    att = _gqa(c, qkv_bias=bias, o_bias=bias, qk_norm="per_head")
    _qwen_sliding(c, att)
    moe = _experts(c, "num_experts", "num_experts_per_tok", "moe_intermediate_size")
    _qwen_moe_layers(c, moe)
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": moe}


def _deepseek_moe(c: ConfigReader, *, score_bias: bool) -> dict:
    """DeepSeek-style MoE: dense first_k_dense_replace layers, then MoE every moe_layer_freq."""
    moe = _experts(c, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size")
    moe.update(num_shared_experts=c.int("n_shared_experts", 0, minimum=0), router_bias=score_bias)
    groups = c.int("n_group", 1)
    if groups > 1:          # V2's group_limited_greedy, V3's noaux_tc: experts from topk_group groups only
        moe.update(expert_groups=groups, groups_per_token=c.int("topk_group", groups))
    first = c.int("first_k_dense_replace", 0, minimum=0)
    freq = c.int("moe_layer_freq", 1)
    if freq == 1:
        moe["first_k_dense"] = first
    else:   # DeepSeek counts 0-based: layer i is MoE when i >= first and i % freq == 0
        moe["layers"] = [i for i in range(c.int("num_hidden_layers")) if i >= first and i % freq == 0]
    return moe


def deepseek(c: ConfigReader) -> dict:
    """DeepseekV2/V3ForCausalLM (and Kimi K2): MLA attention, DeepSeekMoE, next-n MTP layers.

    V3's ``noaux_tc`` router keeps an ``e_score_correction_bias`` of E values per MoE layer.
    """
    bias = c.bool("attention_bias", False)
    att = {"type": "mla", "num_heads": c.int("num_attention_heads"),
           "q_lora_rank": c.int("q_lora_rank", 0, minimum=0), "kv_lora_rank": c.int("kv_lora_rank"),
           "qk_nope_head_dim": c.int("qk_nope_head_dim"), "qk_rope_head_dim": c.int("qk_rope_head_dim"),
           "v_head_dim": c.int("v_head_dim"), "qkv_bias": bias, "o_bias": bias}
    moe = _deepseek_moe(c, score_bias=c.raw("topk_method", "greedy") == "noaux_tc")
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": moe,
            "mtp_layers": c.int("num_nextn_predict_layers", 0, minimum=0)}


def glm4_moe(c: ConfigReader) -> dict:
    """Glm4MoeForCausalLM (GLM-4.5): GQA with q/k/v biases, optional per-head q/k norm,
    DeepSeek-style MoE whose router always has e_score_correction_bias; next-n MTP layers."""
    att = _gqa(c, qkv_bias=c.bool("attention_bias", False), o_bias=False,
               qk_norm="per_head" if c.bool("use_qk_norm", False) else "none")
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": _deepseek_moe(c, score_bias=True),
            "mtp_layers": c.int("num_nextn_predict_layers", 0, minimum=0)}


def gpt_oss(c: ConfigReader) -> dict:
    """GptOssForCausalLM: biased q/k/v/o, a sink per head, experts and router with biases,
    alternating sliding/full layers."""
    att = _gqa(c, qkv_bias=True, o_bias=True)
    att["sinks"] = True
    _layer_types(c, att, default_sliding=False)
    moe = _experts(c, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    moe.update(expert_bias=True, router_bias=True)
    return {**_core(c), "attention": att, "moe": moe}


def olmoe(c: ConfigReader) -> dict:
    """OlmoeForCausalLM: q/k RMSNorm over the full projection width, every layer MoE."""
    bias = c.bool("attention_bias", False)
    att = _gqa(c, qkv_bias=bias, o_bias=bias, qk_norm="full")
    moe = _experts(c, "num_experts", "num_experts_per_tok", "intermediate_size")
    return {**_core(c), "attention": att, "moe": moe}


def phimoe(c: ConfigReader) -> dict:
    """PhimoeForCausalLM: LayerNorm with bias, biased q/k/v/o, an lm_head bias."""
    bias = c.bool("attention_bias", False)
    att = _gqa(c, qkv_bias=bias, o_bias=bias)
    _layer_types(c, att, default_sliding=True)
    moe = _experts(c, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    return {**_core(c), "norm_bias": True, "lm_head_bias": c.bool("lm_head_bias", False),
            "attention": att, "moe": moe}


def dbrx(c: ConfigReader) -> dict:
    """DbrxForCausalLM, native keys: d_model, n_layers, n_heads, attn_config.kv_n_heads,
    ffn_config.{moe_num_experts, moe_top_k, ffn_hidden_size}; bias-free LayerNorm, fused Wqkv."""
    attn, ffn = c.sub("attn_config"), c.sub("ffn_config")
    heads = c.int("n_heads")
    kv = attn.int("kv_n_heads", heads)
    if heads % kv:
        attn._fail("kv_n_heads", f"n_heads ({heads}) is not divisible by kv_n_heads ({kv})")
    att = {"type": attention_kind(heads, kv), "num_heads": heads}
    if att["type"] == "gqa":
        att["num_kv_heads"] = kv
    moe = _experts(ffn, "moe_num_experts", "moe_top_k", "ffn_hidden_size")
    return {"hidden_size": c.int("d_model"), "num_layers": c.int("n_layers"),
            "vocab_size": c.int("vocab_size"), "tie_embeddings": c.bool("tie_word_embeddings", False),
            "attention": att, "moe": moe}


def llama4(c: ConfigReader) -> dict:
    """Llama4ForConditionalGeneration: count the language model in ``text_config``.

    MoE layers every ``interleave_moe_layer_step`` (1-based), each with one shared expert of
    ``intermediate_size``; dense layers use ``intermediate_size_mlp``. RoPE layers use chunked
    attention (``attention_chunk_size``); NoPE layers (every 4th by default) attend fully.
    The q/k norm is a parameter-free L2 norm.
    """
    t = c.sub("text_config") if c.has("text_config") else c
    bias = t.bool("attention_bias", False)
    att = _gqa(t, qkv_bias=bias, o_bias=bias)
    L = t.int("num_hidden_layers")
    if t.has("layer_types"):
        _layer_types(t, att)
    elif t.has("attention_chunk_size"):
        rope = t.list("no_rope_layers", []) or [int((i + 1) % 4 != 0) for i in range(L)]
        att["chunk_size"] = t.int("attention_chunk_size")
        att["layer_types"] = _cyclic(["chunked" if r else "full" for r in rope])
    step = t.int("interleave_moe_layer_step", 1)
    expert = t.int("intermediate_size")
    moe = _experts(t, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    moe.update(num_shared_experts=1, shared_expert_intermediate_size=expert)
    if t.has("moe_layers"):
        moe["layers"] = t.list("moe_layers")
    else:
        moe["every_n"] = step
    spec = {"hidden_size": t.int("hidden_size"), "num_layers": L, "vocab_size": t.int("vocab_size"),
            "tie_embeddings": c.bool("tie_word_embeddings", False), "attention": att, "moe": moe}
    if step > 1 or t.has("moe_layers"):
        spec["ffn"] = _ffn(t, "intermediate_size_mlp")
    spec["dtypes"] = weight_dtypes(c)
    return spec


FAMILIES = {
    "llama": llama, "mistral": mistral, "qwen2": qwen2, "qwen3": qwen3, "mixtral": mixtral,
    "qwen2_moe": qwen2_moe, "qwen3_moe": qwen3_moe, "deepseek_v2": deepseek,
    "deepseek_v3": deepseek, "kimi_k2": deepseek, "glm4_moe": glm4_moe, "gpt_oss": gpt_oss,
    "olmoe": olmoe, "phimoe": phimoe, "dbrx": dbrx, "llama4": llama4,
}


def _register_2025() -> None:
    from moecalc.spec.hf_families_2025 import FAMILIES_2025

    FAMILIES.update(FAMILIES_2025)


_register_2025()
