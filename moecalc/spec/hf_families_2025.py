"""Families released from mid-2025: hybrids with recurrent layers, sparse attention, multimodal
wrappers, and MoE layouts the earlier families did not have. Each reader mirrors its family's
transformers 5.24 ``modeling_*.py`` (which tensors exist, which keys it reads and which it
ignores) and is registered in ``hf_families.FAMILIES``; the layer kinds they use live in
``engine.schedule`` and ``spec.mixers``.
"""

from __future__ import annotations

from moecalc.spec import vision
from moecalc.spec.hf_families import _core, _cyclic, _deepseek_moe, _experts, _ffn, _gqa, _layer_types, deepseek
from moecalc.spec.hf_import import ConfigReader, attention_kind, weight_dtypes


def _text(c: ConfigReader) -> ConfigReader:
    """A multimodal config's language model (``text_config``), or the config itself."""
    return c.sub("text_config") if c.has("text_config") else c


def _types(c: ConfigReader, key: str, names: dict[str, str], fallback: list[str]) -> list[str]:
    """Per-layer types from a list under ``key`` mapped through ``names``, else ``fallback``."""
    if not c.has(key):
        return fallback
    out = []
    for t in c.list(key):
        if t not in names:
            c._fail(key, f"unknown entry {t!r}; known: {', '.join(names)}")
        out.append(names[t])
    return out


# ---- sparse attention and DeepSeek-style MoE ----------------------------------------------------
def deepseek_v32(c: ConfigReader) -> dict:
    """DeepseekV32ForCausalLM (DeepSeek-V3.2): DeepSeek-V3 with DeepSeek Sparse Attention, a
    lightning indexer per layer (index_n_heads x index_head_dim, keys cached per token) whose
    top index_topk keys each query attends."""
    spec = deepseek(c)
    spec["attention"].update(index_n_heads=c.int("index_n_heads"), index_head_dim=c.int("index_head_dim"),
                             index_topk=c.int("index_topk"))
    return spec


def glm4_moe_lite(c: ConfigReader) -> dict:
    """Glm4MoeLiteForCausalLM (GLM-4.7-Flash): MLA (``head_dim`` is the RoPE dim there) and
    DeepSeek-style MoE with a score-correction bias; the first ``first_k_dense_replace`` layers
    dense (transformers' default, 1, when absent); next-n MTP layers (the released config: 1)."""
    att = {"type": "mla", "num_heads": c.int("num_attention_heads"), "q_lora_rank": c.int("q_lora_rank", 0, minimum=0),
           "kv_lora_rank": c.int("kv_lora_rank"), "qk_nope_head_dim": c.int("qk_nope_head_dim"),
           "qk_rope_head_dim": c.int("qk_rope_head_dim"), "v_head_dim": c.int("v_head_dim")}
    moe = _experts(c, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size")
    moe.update(num_shared_experts=c.int("n_shared_experts", 1, minimum=0), router_bias=True,
               first_k_dense=c.int("first_k_dense_replace", 1, minimum=0))
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": moe,
            "mtp_layers": c.int("num_nextn_predict_layers", 1, minimum=0)}


def dots1(c: ConfigReader) -> dict:
    """Dots1ForCausalLM (dots.llm1): Qwen3-style attention (per-head q/k norms) and DeepSeek-style
    MoE (first_k_dense_replace dense layers, shared experts, a score-correction bias)."""
    att = _gqa(c, qkv_bias=c.bool("attention_bias", False), o_bias=c.bool("attention_bias", False),
               qk_norm="per_head")
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": _deepseek_moe(c, score_bias=True)}


def kimi_k25(c: ConfigReader) -> dict:
    """Kimi K2.5 (Kimi_K25ForConditionalGeneration): a DeepSeek-V3 language model in
    ``text_config`` and a MoonViT vision tower with its projector (``vision``)."""
    spec = deepseek(_text(c))
    spec["vision_params"] = vision.moonvit(c.sub("vision_config") if c.has("vision_config") else ConfigReader({}, c.label),
                                           _text(c).int("hidden_size"))
    spec["dtypes"] = weight_dtypes(_text(c) if _text(c).has("quantization_config") else c)
    return spec


def minimax_m2(c: ConfigReader) -> dict:
    """MiniMaxM2ForCausalLM (MiniMax-M2/M2.5): GQA with q/k RMSNorms over all heads, every layer
    MoE with a routing bias; its MTP modules are not built by transformers (not counted)."""
    att = _gqa(c, qkv_bias=False, o_bias=False, qk_norm="full" if c.bool("use_qk_norm", True) else "none")
    moe = _experts(c, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    moe["router_bias"] = c.bool("use_routing_bias", True)
    return {**_core(c), "attention": att, "moe": moe}


# ---- hybrids with recurrent layers ----------------------------------------------------------
def qwen3_next(c: ConfigReader) -> dict:
    """Qwen3NextForCausalLM: Gated DeltaNet layers and, every ``full_attention_interval``-th,
    gated softmax attention (q_proj doubled for an output gate, per-head q/k norms); MoE with
    a gated shared expert. Its MTP module (not in transformers) is not counted."""
    att = _gqa(c, qkv_bias=c.bool("attention_bias", False), o_bias=c.bool("attention_bias", False),
               qk_norm="per_head")
    att["output_gate"] = True
    L = c.int("num_hidden_layers")
    interval = c.int("full_attention_interval", 4)
    types = _types(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"},
                   ["linear" if (i + 1) % interval else "full" for i in range(L)])
    att["layer_types"] = _cyclic(types)
    mixer = {"type": "gated_deltanet", "num_k_heads": c.int("linear_num_key_heads"),
             "num_v_heads": c.int("linear_num_value_heads"), "k_head_dim": c.int("linear_key_head_dim"),
             "v_head_dim": c.int("linear_value_head_dim"), "conv_kernel": c.int("linear_conv_kernel_dim", 4)}
    from moecalc.spec.hf_families import _qwen_moe_layers

    moe = _experts(c, "num_experts", "num_experts_per_tok", "moe_intermediate_size")
    shared = c.int("shared_expert_intermediate_size", 0, minimum=0)
    if shared:
        moe.update(num_shared_experts=1, shared_expert_intermediate_size=shared, shared_expert_gate=True)
    _qwen_moe_layers(c, moe)
    spec = {**_core(c), "attention": att, "mixer": mixer, "moe": moe}
    if c.has("intermediate_size"):      # dense layers only under mlp_only_layers / decoder_sparse_step
        spec["ffn"] = _ffn(c)
    return spec


def _alias(c: ConfigReader, names: tuple[str, ...], default=None):
    """The first of ``names`` the config sets (a family's attribute_map aliases)."""
    for name in names:
        if c.has(name):
            return c.int(name, minimum=0)
    if default is None:
        c._fail(names[0], "required key is missing")
    return default


def kimi_linear(c: ConfigReader) -> dict:
    """KimiLinearForCausalLM: Kimi Delta Attention layers and MLA layers (without RoPE, still
    caching the rope key), from ``layer_types``, else ``linear_attn_config`` (1-based
    full_attn_layers), else every 4th; DeepSeek-style MoE with a score-correction bias over
    ``mlp_layer_types`` (else first_k_dense_replace dense layers). The attribute-map aliases
    of its keys are read too (num_experts / n_routed_experts, ...)."""
    L = c.int("num_hidden_layers")
    lin = c.sub("linear_attn_config") if c.has("linear_attn_config") else ConfigReader({}, c.label)
    if c.has("layer_types"):
        types = _types(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"}, [])
    elif lin.has("full_attn_layers"):
        full = {int(i) - 1 for i in lin.list("full_attn_layers")}
        types = ["full" if i in full else "linear" for i in range(L)]
    else:
        types = ["full" if i and i % 4 == 0 else "linear" for i in range(L)]
    att = {"type": "mla", "num_heads": c.int("num_attention_heads"), "q_lora_rank": c.int("q_lora_rank", 0, minimum=0),
           "kv_lora_rank": c.int("kv_lora_rank"), "qk_nope_head_dim": c.int("qk_nope_head_dim"),
           "qk_rope_head_dim": c.int("qk_rope_head_dim", 64), "v_head_dim": c.int("v_head_dim"),
           "qkv_bias": c.bool("attention_bias", False), "o_bias": c.bool("attention_bias", False),
           "layer_types": _cyclic(types)}
    mixer = {"type": "kda", "num_heads": lin.int("num_heads", c.int("linear_num_heads", 32)),
             "head_dim": lin.int("head_dim", c.int("linear_head_dim", 128)),
             "conv_kernel": lin.int("short_conv_kernel_size", c.int("linear_conv_kernel_dim", 4))}
    experts = _alias(c, ("num_experts", "n_routed_experts"))
    k = _alias(c, ("num_experts_per_token", "num_experts_per_tok"))
    if k > experts:
        c._fail("num_experts_per_token", f"{k} exceeds num_experts ({experts})")
    moe = {"num_experts": experts, "top_k": k, "expert_intermediate_size": c.int("moe_intermediate_size"),
           "num_shared_experts": _alias(c, ("num_shared_experts", "n_shared_experts"), 0), "router_bias": True}
    if c.has("mlp_layer_types"):
        moe["layers"] = [i for i, t in enumerate(c.list("mlp_layer_types")) if t == "sparse"]
    else:
        moe["first_k_dense"] = c.int("first_k_dense_replace", 1, minimum=0)
    return {**_core(c), "attention": att, "mixer": mixer, "ffn": _ffn(c), "moe": moe}


def minimax(c: ConfigReader) -> dict:
    """MiniMaxForCausalLM (MiniMax-Text-01, M1): lightning attention with softmax GQA every
    ``layer_types`` full layer (``attn_type_list`` in the remote code: 1 = softmax), every
    layer MoE. Its decay slopes are computed buffers, not stored."""
    att = _gqa(c, qkv_bias=False, o_bias=False)
    L = c.int("num_hidden_layers")
    if c.has("attn_type_list"):
        types = ["full" if int(t) else "linear" for t in c.list("attn_type_list")]
    else:
        types = _types(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"},
                       ["full" if (i + 1) % 8 == 0 else "linear" for i in range(L)])
    att["layer_types"] = _cyclic(types)
    heads = c.int("num_attention_heads")
    mixer = {"type": "lightning", "num_heads": heads,
             "head_dim": c.int("head_dim", c.int("hidden_size") // heads), "conv_kernel": 0}
    moe = _experts(c, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    return {**_core(c), "attention": att, "mixer": mixer, "moe": moe}


def nemotron_h(c: ConfigReader) -> dict:
    """NemotronHForCausalLM (Nemotron-H, Nemotron 3): single-mixer blocks, one norm each, from
    ``hybrid_override_pattern`` (M Mamba-2, * attention, E MoE, - MLP); relu^2 experts and MLPs
    (not gated), one ungated shared expert; attention without biases; Mamba-2 of mamba_num_heads
    x mamba_head_dim (``expand`` is not used)."""
    pattern = {"M": ("linear", "none"), "*": ("full", "none"), "E": ("none", "moe"), "-": ("none", "dense")}
    names = {"mamba": "M", "linear_attention": "M", "attention": "*", "full_attention": "*", "moe": "E", "mlp": "-"}
    if c.has("hybrid_override_pattern"):
        text = c.str("hybrid_override_pattern")
        bad = sorted(set(text) - set(pattern))
        if bad:
            c._fail("hybrid_override_pattern", f"unknown block {bad[0]!r}; known: M, *, E, -")
    else:
        blocks = c.list("layers_block_type")
        bad = sorted({str(t) for t in blocks} - set(names))
        if bad:
            c._fail("layers_block_type", f"unknown block {bad[0]!r}; known: {', '.join(names)}")
        text = "".join(names[t] for t in blocks)
    if len(text) != c.int("num_hidden_layers"):
        c._fail("hybrid_override_pattern", f"{len(text)} blocks for num_hidden_layers {c.int('num_hidden_layers')}")
    heads, kv = c.int("num_attention_heads"), c.int("num_key_value_heads", c.int("num_attention_heads"))
    att = {"type": "gqa" if kv not in (1, heads) else "mha" if kv == heads else "mqa", "num_heads": heads,
           "head_dim": c.int("head_dim")}
    if att["type"] == "gqa":
        att["num_kv_heads"] = kv
    att["layer_types"] = [pattern[ch][0] for ch in text]
    mixer = {"type": "mamba2", "num_heads": c.int("mamba_num_heads"), "head_dim": c.int("mamba_head_dim"),
             "d_state": c.int("ssm_state_size"), "n_groups": c.int("n_groups", 1),
             "conv_kernel": c.int("conv_kernel", 4), "conv_bias": c.bool("use_conv_bias", True),
             "proj_bias": c.bool("use_bias", False)}
    spec = {**_core(c), "attention": att, "mixer": mixer, "ffn_types": [pattern[ch][1] for ch in text],
            "norms_per_layer": 1}
    gated = c.raw("mlp_hidden_act", "relu2") not in ("relu2",)
    if "-" in text:
        spec["ffn"] = {"intermediate_size": c.int("intermediate_size"), "gated": gated,
                       "bias": c.bool("mlp_bias", False)}
    if "E" in text:
        moe = _experts(c, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size")
        moe.update(gated=gated, router_bias=True, num_shared_experts=1,
                   shared_expert_intermediate_size=c.int("moe_shared_expert_intermediate_size"))
        if c.has("moe_latent_size"):
            c._fail("moe_latent_size", "latent MoE is not modelled yet")
        spec["moe"] = moe
    return spec


def granitemoehybrid(c: ConfigReader) -> dict:
    """GraniteMoeHybridForCausalLM (Granite 4.0-H): Mamba-2 or attention per ``layer_types``
    (every layer Mamba-2 when absent, as transformers builds it), then MoE and a shared gated MLP
    in every layer. transformers' defaults fill the keys an abridged config leaves out."""
    d = {"mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_expand": 2}
    L, h = c.int("num_hidden_layers"), c.int("hidden_size")
    heads_m = c.int("mamba_n_heads", d["mamba_n_heads"])
    head_dim = c.raw("mamba_d_head", "auto")
    head_dim = c.int("mamba_expand", d["mamba_expand"]) * h // heads_m if head_dim == "auto" else c.int("mamba_d_head")
    types = _types(c, "layer_types", {"mamba": "linear", "linear_attention": "linear", "attention": "full",
                                      "full_attention": "full"}, ["linear"] * L)
    att = _gqa(c, qkv_bias=c.bool("attention_bias", False), o_bias=c.bool("attention_bias", False))
    att["layer_types"] = _cyclic(types)
    mixer = {"type": "mamba2", "num_heads": heads_m, "head_dim": head_dim,
             "d_state": c.int("mamba_d_state", d["mamba_d_state"]), "n_groups": c.int("mamba_n_groups", 1),
             "conv_kernel": c.int("mamba_d_conv", 4), "conv_bias": c.bool("mamba_conv_bias", True),
             "proj_bias": c.bool("mamba_proj_bias", False)}
    moe = _experts(c, "num_local_experts", "num_experts_per_tok", "intermediate_size")
    moe.update(num_shared_experts=1, shared_expert_intermediate_size=c.int("shared_intermediate_size", 1024))
    return {**_core(c), "attention": att, "mixer": mixer, "moe": moe}


def jamba(c: ConfigReader) -> dict:
    """JambaForCausalLM: Mamba-1 layers with attention every ``attn_layer_period`` from
    ``attn_layer_offset``, MoE every ``expert_layer_period`` from ``expert_layer_offset``
    (dense SwiGLU otherwise); Mamba's dt, B and C norms; no RoPE."""
    L, h = c.int("num_hidden_layers"), c.int("hidden_size")
    ap, ao = c.int("attn_layer_period", 8), c.int("attn_layer_offset", 4, minimum=0)
    ep, eo = c.int("expert_layer_period", 2), c.int("expert_layer_offset", 1, minimum=0)
    att = _gqa(c, qkv_bias=False, o_bias=False)
    att["layer_types"] = _cyclic(["full" if i % ap == ao else "linear" for i in range(L)])
    d_inner = c.int("mamba_expand", 2) * h
    rank = c.raw("mamba_dt_rank", "auto")
    rank = -(-h // 16) if rank == "auto" else c.int("mamba_dt_rank")
    mixer = {"type": "mamba1", "d_inner": d_inner, "d_state": c.int("mamba_d_state", 16), "dt_rank": rank,
             "conv_kernel": c.int("mamba_d_conv", 4), "conv_bias": c.bool("mamba_conv_bias", True),
             "proj_bias": c.bool("mamba_proj_bias", False), "inner_norms": True}
    moe = _experts(c, "num_experts", "num_experts_per_tok", "intermediate_size")
    moe["layers"] = [i for i in range(L) if i % ep == eo]
    return {**_core(c), "attention": att, "mixer": mixer, "ffn": _ffn(c), "moe": moe}

# ---- other MoE layouts ----------------------------------------------------------------------
def ernie4_5_moe(c: ConfigReader) -> dict:
    """Ernie4_5_MoeForCausalLM (ERNIE-4.5 MoE; ``ernie_moe`` in Baidu's own configs): GQA with
    ``use_bias`` on every projection, MoE on layers start..end (inclusive; -1: the last) every
    ``moe_layer_interval``, ``moe_num_shared_experts`` shared experts fused into one MLP of
    their total width, a router with a stored correction bias; tied embeddings by default."""
    bias = c.bool("use_bias", False)
    att = _gqa(c, qkv_bias=bias, o_bias=bias)
    L = c.int("num_hidden_layers")
    start = c.int("moe_layer_start_index", 1, minimum=0)
    end = c.raw("moe_layer_end_index", -1)
    end = L - 1 if end == -1 else c.int("moe_layer_end_index", minimum=0)
    interval = c.int("moe_layer_interval", 1)
    experts, k, width = c.int("moe_num_experts", 64), c.int("moe_k", 6), c.int("moe_intermediate_size", 1536)
    if k > experts:
        c._fail("moe_k", f"{k} exceeds moe_num_experts ({experts})")
    shared = c.int("moe_num_shared_experts", 2, minimum=0)
    moe = {"num_experts": experts, "top_k": k, "expert_intermediate_size": width, "router_bias": True,
           "layers": [i for i in range(L) if (i + 1) % interval == 0 and start <= i <= end]}
    if shared:
        moe.update(num_shared_experts=1, shared_expert_intermediate_size=shared * width)
    return {**_core(c), "tie_embeddings": c.bool("tie_word_embeddings", True), "attention": att,
            "ffn": _ffn(c, bias=bias), "moe": moe}


def _per_layer(c: ConfigReader, key: str, default: int) -> int:
    """A key that may be one value or one per layer (Hunyuan's moe_topk): its value, the same on
    every layer."""
    value = c.raw(key, default)
    if isinstance(value, list):
        if not value or len(set(value)) != 1:
            c._fail(key, f"differs between layers ({sorted(set(value))}); moecalc takes one value")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        c._fail(key, f"must be a whole number, got {value!r}")
    return value


def hunyuan_v1_moe(c: ConfigReader) -> dict:
    """HunYuanMoEV1ForCausalLM (Hunyuan-A13B; ``hunyuan`` before transformers took it in): GQA
    with per-head q/k norms, every layer MoE whose experts and one shared MLP are
    ``intermediate_size`` wide (``moe_intermediate_size`` is read by neither implementation),
    ``moe_topk`` per layer; cross-layer KV sharing (``use_cla``) is not modelled."""
    att = _gqa(c, qkv_bias=c.bool("attention_bias", False), o_bias=c.bool("attention_bias", False),
               qk_norm="per_head" if c.bool("use_qk_norm", True) else "none")
    if c.bool("use_cla", False):
        c._fail("use_cla", "cross-layer KV sharing is not modelled yet")
    experts = c.int("num_experts")
    k = _per_layer(c, "moe_topk", 1)
    moe = {"num_experts": experts, "top_k": k, "expert_intermediate_size": c.int("intermediate_size"),
           "num_shared_experts": 1 if c.bool("use_mixed_mlp_moe", True) else 0}
    return {**_core(c), "attention": att, "moe": moe}


def qwen3_vl_moe(c: ConfigReader) -> dict:
    """Qwen3VLMoeForConditionalGeneration: a Qwen3-MoE language model in ``text_config`` (tied or
    not as the top-level config says) and its vision model with deepstack mergers (``vision``)."""
    from moecalc.spec.hf_families import qwen3_moe

    spec = qwen3_moe(_text(c))
    spec["tie_embeddings"] = c.bool("tie_word_embeddings", False)
    spec["vision_params"] = vision.qwen3_vl(c.sub("vision_config") if c.has("vision_config")
                                            else ConfigReader({}, c.label))
    spec["dtypes"] = weight_dtypes(c)
    return spec


def mimo_v2_flash(c: ConfigReader) -> dict:
    """MiMoV2FlashForCausalLM (MiMo-V2-Flash): full and sliding-window layers of their own shapes
    (``swa_*`` keys; ``hybrid_layer_pattern`` 1 = sliding), an attention sink per head on the
    sliding layers, o_proj without bias; DeepSeek-style MoE (``moe_layer_freq`` 1 = MoE) with a
    stored correction bias and no shared expert."""
    L = c.int("num_hidden_layers")
    bias = c.bool("attention_bias", False)
    heads, kv, hd = c.int("num_attention_heads"), c.int("num_key_value_heads"), c.int("head_dim", 192)
    full = {"type": "gqa", "num_heads": heads, "num_kv_heads": kv, "head_dim": hd, "v_head_dim": c.int("v_head_dim", 128),
            "qkv_bias": bias, "sinks": c.bool("add_full_attention_sink_bias", False)}
    swa = {"type": "gqa", "num_heads": c.int("swa_num_attention_heads", heads),
           "num_kv_heads": c.int("swa_num_key_value_heads", 2 * kv), "head_dim": c.int("swa_head_dim", hd),
           "v_head_dim": c.int("swa_v_head_dim", full["v_head_dim"]), "qkv_bias": bias,
           "sinks": c.bool("add_swa_attention_sink_bias", True)}
    if c.has("hybrid_layer_pattern"):
        types = ["sliding" if x else "full" for x in c.list("hybrid_layer_pattern")]
    else:
        types = ["full" if i == 0 or not (i + 1) % 6 else "sliding" for i in range(L)]
    full.update(layer_types=_cyclic(types), sliding_window=c.int("sliding_window_size", c.int("sliding_window", 128)))
    moe = _experts(c, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size")
    moe["router_bias"] = True
    freq = c.raw("moe_layer_freq", None)
    moe["layers"] = ([i for i, x in enumerate(freq) if x] if isinstance(freq, list) else list(range(1, L)))
    for a in (full, swa):
        for key in ("num_kv_heads",):
            if a["num_heads"] % a[key]:
                c._fail("num_key_value_heads", f"{a['num_heads']} heads do not divide over {a[key]} kv heads")
    return {**_core(c), "attention": full, "sliding_attention": swa, "ffn": _ffn(c), "moe": moe}


def bailing_moe(c: ConfigReader) -> dict:
    """BailingMoeForCausalLM (Ling; inclusionAI's modeling code, not in transformers): fused qkv
    with ``use_qkv_bias``, o_proj with ``use_bias``, DeepSeek-style MoE without router bias after
    ``first_k_dense_replace`` dense layers."""
    att = _gqa(c, qkv_bias=c.bool("use_qkv_bias", False), o_bias=c.bool("use_bias", True))
    moe = _experts(c, "num_experts", "num_experts_per_tok", "moe_intermediate_size")
    moe.update(num_shared_experts=c.int("num_shared_experts", 0, minimum=0),
               first_k_dense=c.int("first_k_dense_replace", 0, minimum=0))
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": moe}


def grok1(c: ConfigReader) -> dict:
    """Grok-1 (xai-org/grok-1 model.py, with the key names of its Hugging Face port): GQA without
    biases, four RMSNorms per layer (around attention and the MoE), every layer MoE of 8 GeGLU
    experts, tied embeddings."""
    att = _gqa(c, qkv_bias=False, o_bias=False)
    moe = _experts(c, "num_experts", "num_experts_per_tok", "intermediate_size")
    return {**_core(c), "tie_embeddings": c.bool("tie_word_embeddings", True), "attention": att, "moe": moe,
            "norms_per_layer": 4}


def step3_vl(c: ConfigReader) -> dict:
    """Step3 (``step3_vl``; sglang's and vLLM's step3_vl.py, not in transformers): attention with
    low-rank queries (``share_q_dim`` with a norm) and one key/value head of ``head_dim``; MoE on
    ``moe_layers_enum`` with one shared expert of ``share_expert_dim``; untied head; its vision
    transformer, downsamplers and projector (``vision``)."""
    t = _text(c)
    heads, groups = t.int("num_attention_heads"), t.int("num_attention_groups", 1)
    att = {"type": attention_kind(heads, groups), "num_heads": heads, "head_dim": t.int("head_dim"),
           "q_lora_rank": t.int("share_q_dim")}
    if att["type"] == "gqa":
        att["num_kv_heads"] = groups
    L = t.int("num_hidden_layers")
    layers = t.raw("moe_layers_enum", None)
    if isinstance(layers, str):
        layers = [int(x) for x in layers.split(",") if x.strip()]
    experts, k = t.int("moe_num_experts"), t.int("moe_top_k")
    if k > experts:
        t._fail("moe_top_k", f"{k} exceeds moe_num_experts ({experts})")
    moe = {"num_experts": experts, "top_k": k, "expert_intermediate_size": t.int("moe_intermediate_size"),
           "num_shared_experts": 1, "shared_expert_intermediate_size": t.int("share_expert_dim"),
           "layers": list(layers) if layers is not None else list(range(1, L))}
    spec = {"hidden_size": t.int("hidden_size"), "num_layers": L, "vocab_size": t.int("vocab_size"),
            "tie_embeddings": False, "attention": att, "ffn": _ffn(t), "moe": moe}
    spec["vision_params"] = vision.step3(c.sub("vision_config") if c.has("vision_config") else ConfigReader({}, c.label),
                                         t.int("hidden_size"), c.bool("projector_bias", True))
    return spec


def longcat_flash(c: ConfigReader) -> dict:
    """LongcatFlashForCausalLM (LongCat-Flash): ``num_layers`` blocks of two MLA attentions, two
    dense MLPs and one shortcut MoE beside the second (as 2 num_layers layers, the MoE in
    parallel with every second dense MLP); 512 experts plus ``zero_expert_num`` identity experts
    (no weights: transformers allocates their gate/up rows, which no checkpoint stores), a
    router over all of them with a stored correction bias."""
    att = {"type": "mla", "num_heads": c.int("num_attention_heads"), "q_lora_rank": c.int("q_lora_rank", 0, minimum=0),
           "kv_lora_rank": c.int("kv_lora_rank"), "qk_nope_head_dim": c.int("qk_nope_head_dim"),
           "qk_rope_head_dim": c.int("qk_rope_head_dim"), "v_head_dim": c.int("v_head_dim"),
           "qkv_bias": c.bool("attention_bias", False), "o_bias": c.bool("attention_bias", False)}
    blocks = c.int("num_layers")
    experts, k = c.int("n_routed_experts"), c.int("moe_topk")
    zero = c.int("zero_expert_num", 0, minimum=0)
    if k > experts + zero:
        c._fail("moe_topk", f"{k} exceeds the {experts + zero} experts")
    moe = {"num_experts": experts, "top_k": k, "expert_intermediate_size": c.int("expert_ffn_hidden_size"),
           "num_zero_experts": zero, "router_bias": True,
           "parallel_dense_intermediate_size": c.int("ffn_hidden_size")}
    return {"hidden_size": c.int("hidden_size"), "num_layers": 2 * blocks, "vocab_size": c.int("vocab_size"),
            "tie_embeddings": c.bool("tie_word_embeddings", False), "attention": att,
            "ffn": {"intermediate_size": c.int("ffn_hidden_size"), "gated": True, "bias": False}, "moe": moe,
            "ffn_types": ["dense", "moe"]}


def gemma4(c: ConfigReader) -> dict:
    """Gemma4ForConditionalGeneration (Gemma 4 MoE): sliding layers (heads x head_dim, kv heads,
    q/k norms) and full layers of global_head_dim whose values are their keys
    (``attention_k_eq_v``, num_global_key_value_heads); every layer a dense MLP beside the MoE,
    seven RMSNorms and a stored layer scalar; a router with an input scale and per-expert scales;
    tied embeddings; its vision model (``vision``). Per-layer input embeddings and KV shared
    across layers are refused until modelled."""
    t = _text(c)
    for key, what in (("hidden_size_per_layer_input", "per-layer input embeddings"),
                      ("num_kv_shared_layers", "KV shared across layers")):
        if t.int(key, 0, minimum=0):
            t._fail(key, f"{what} are not modelled yet")
    if t.bool("use_double_wide_mlp", False):
        t._fail("use_double_wide_mlp", "double-wide MLPs are not modelled yet")
    heads, kv, hd = t.int("num_attention_heads"), t.int("num_key_value_heads"), t.int("head_dim", 256)
    bias = t.bool("attention_bias", False)
    k_eq_v = t.bool("attention_k_eq_v", False)
    L = t.int("num_hidden_layers")
    types = _types(t, "layer_types", {"sliding_attention": "sliding", "full_attention": "full"},
                   ["full" if (i + 1) % 6 == 0 else "sliding" for i in range(L)])
    global_kv = t.int("num_global_key_value_heads", kv) if k_eq_v else kv
    full = {"type": attention_kind(heads, global_kv), "num_heads": heads, "head_dim": t.int("global_head_dim", hd),
            "qkv_bias": bias, "o_bias": bias, "qk_norm": "per_head", "values_from_keys": k_eq_v,
            "layer_types": _cyclic(types), "sliding_window": t.int("sliding_window")}
    sliding = {"type": attention_kind(heads, kv), "num_heads": heads, "head_dim": hd, "qkv_bias": bias, "o_bias": bias,
               "qk_norm": "per_head"}
    for a, n in ((full, global_kv), (sliding, kv)):
        if a["type"] == "gqa":
            a["num_kv_heads"] = n
    spec = {"hidden_size": t.int("hidden_size"), "num_layers": L, "vocab_size": t.int("vocab_size"),
            "tie_embeddings": c.bool("tie_word_embeddings", t.bool("tie_word_embeddings", True)),
            "attention": full, "sliding_attention": sliding, "layer_scalars": 1}
    dense = {"intermediate_size": t.int("intermediate_size"), "gated": True, "bias": False}
    if t.bool("enable_moe_block", False):
        experts, k = t.int("num_experts"), t.int("top_k_experts")
        if k > experts:
            t._fail("top_k_experts", f"{k} exceeds num_experts ({experts})")
        spec["moe"] = {"num_experts": experts, "top_k": k, "expert_intermediate_size": t.int("moe_intermediate_size"),
                       "router_bias": True, "router_scale": True,
                       "parallel_dense_intermediate_size": dense["intermediate_size"]}
        spec["norms_per_layer"] = 7
    else:
        spec["ffn"] = dense
        spec["norms_per_layer"] = 4
    if c.has("vision_config"):
        spec["vision_params"] = vision.gemma4(c.sub("vision_config"), t.int("hidden_size"))
    return spec


def qwen3_5_moe(c: ConfigReader) -> dict:
    """Qwen3_5MoeForConditionalGeneration (Qwen3.5 MoE): Qwen3-Next's hybrid (Gated DeltaNet with
    its q, k, v, z, b, a projections, gated attention every ``full_attention_interval``) in
    ``text_config``, and Qwen3-VL's vision model without deepstack mergers (``vision``)."""
    spec = qwen3_next(_text(c))
    spec["tie_embeddings"] = c.bool("tie_word_embeddings", False)
    if c.has("vision_config"):
        spec["vision_params"] = vision.qwen3_vl(c.sub("vision_config"), deepstack=False)
    spec["dtypes"] = weight_dtypes(c)
    return spec


def glm_moe_dsa(c: ConfigReader) -> dict:
    """GlmMoeDsaForCausalLM (GLM-5): MLA with a DeepSeek Sparse Attention indexer (transformers'
    defaults when the keys are absent: 32 heads of 128, top 2048), DeepSeek-style MoE with a
    score-correction bias after ``first_k_dense_replace`` dense layers (3 by default). An indexer
    pattern that shares masks between layers (``index_topk_freq``) is refused until modelled."""
    if c.int("index_topk_freq", 1) != 1 or c.has("index_topk_pattern") or c.has("indexer_types"):
        c._fail("index_topk_freq", "layers sharing another layer's index mask are not modelled yet")
    att = {"type": "mla", "num_heads": c.int("num_attention_heads"), "q_lora_rank": c.int("q_lora_rank", 0, minimum=0),
           "kv_lora_rank": c.int("kv_lora_rank"), "qk_nope_head_dim": c.int("qk_nope_head_dim", 192),
           "qk_rope_head_dim": c.int("qk_rope_head_dim", 64), "v_head_dim": c.int("v_head_dim", 256),
           "qkv_bias": c.bool("attention_bias", False), "o_bias": c.bool("attention_bias", False),
           "index_n_heads": c.int("index_n_heads", 32), "index_head_dim": c.int("index_head_dim", 128),
           "index_topk": c.int("index_topk", 2048)}
    moe = _experts(c, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size")
    moe.update(num_shared_experts=c.int("n_shared_experts", 1, minimum=0), router_bias=True,
               first_k_dense=c.int("first_k_dense_replace", 3, minimum=0))
    return {**_core(c), "attention": att, "ffn": _ffn(c), "moe": moe,
            "mtp_layers": c.int("num_nextn_predict_layers", 0, minimum=0)}


FAMILIES_2025 = {
    "deepseek_v32": deepseek_v32, "glm4_moe_lite": glm4_moe_lite, "dots1": dots1, "kimi_k25": kimi_k25,
    "minimax_m2": minimax_m2, "qwen3_next": qwen3_next, "kimi_linear": kimi_linear, "minimax": minimax,
    "nemotron_h": nemotron_h, "granitemoehybrid": granitemoehybrid, "jamba": jamba,
    "ernie4_5_moe": ernie4_5_moe, "ernie_moe": ernie4_5_moe, "hunyuan_v1_moe": hunyuan_v1_moe,
    "hunyuan": hunyuan_v1_moe, "qwen3_vl_moe": qwen3_vl_moe, "mimo_v2_flash": mimo_v2_flash,
    "bailing_moe": bailing_moe, "grok-1": grok1, "step3_vl": step3_vl, "longcat_flash": longcat_flash,
    "gemma4": gemma4, "qwen3_5_moe": qwen3_5_moe, "glm_moe_dsa": glm_moe_dsa,
}
