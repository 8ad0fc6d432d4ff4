"""Vision towers and projectors of multimodal models, counted from their ``vision_config``:
loaded with the model (so in ``params.total``, component ``vision``), run on image tokens only
(so not in the active parameters of a text token). Each follows its family's transformers 5.24
modeling code.
"""

from __future__ import annotations

from moecalc.spec.hf_import import ConfigReader


def _linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def _first(v: ConfigReader, names: tuple[str, ...], default: int) -> int:
    """The first of ``names`` the config has (MoonViT's released keys are ``vt_*``)."""
    for name in names:
        if v.has(name):
            return v.int(name)
    return default


def moonvit(v: ConfigReader, text_hidden: int) -> int:
    """Kimi K2.5's MoonViT and projector (``Kimi_K25VisionModel``, ``KimiK25MultiModalProjector``):
    d wide, I MLP, L layers; patch conv 3 p^2 d + d; a learned (H_pos x W_pos x d) position table;
    per layer 2 LayerNorms (4d), q, k, v, o with biases (4 (d^2 + d)), fc1/fc2 with biases; a final
    LayerNorm; the projector: LayerNorm over d, in (m d)^2 + m d and out m d t + t, m the merge
    kernel's area."""
    d = _first(v, ("hidden_size", "vt_hidden_size"), 1152)
    inner = _first(v, ("intermediate_size", "vt_intermediate_size"), 4304)
    layers = _first(v, ("num_hidden_layers", "vt_num_hidden_layers"), 27)
    ph = _first(v, ("pos_emb_height", "init_pos_emb_height"), 64)
    pw = _first(v, ("pos_emb_width", "init_pos_emb_width"), 64)
    p = v.int("patch_size", 14)
    merge = v.list("merge_kernel_size", [2, 2])
    m = int(merge[0]) * int(merge[1])
    tower = (3 * p * p * d + d + ph * pw * d
             + layers * (4 * d + 4 * (d * d + d) + _linear(d, inner) + _linear(inner, d)) + 2 * d)
    return tower + 2 * d + _linear(m * d, m * d) + _linear(m * d, text_hidden)


def qwen3_vl(v: ConfigReader, deepstack: bool = True) -> int:
    """Qwen3-VL's vision model (``Qwen3VLMoeVisionModel``): a Conv3d patch embedding (c t p^2 h +
    h), a position table, ``depth`` blocks (2 LayerNorms, qkv and proj with biases, a biased
    fc1/fc2 MLP), the merger (a LayerNorm on h, then m^2 h -> m^2 h -> out) and one deepstack
    merger per ``deepstack_visual_indexes`` entry (its LayerNorm over m^2 h); Qwen3.5's vision
    model (``deepstack=False``) has none."""
    h, inner, depth = v.int("hidden_size", 1152), v.int("intermediate_size", 4304), v.int("depth", 27)
    p, t, c = v.int("patch_size", 16), v.int("temporal_patch_size", 2), v.int("in_channels", 3)
    m, out = v.int("spatial_merge_size", 2), v.int("out_hidden_size", 3584)
    block = 2 * 2 * h + _linear(h, 3 * h) + _linear(h, h) + _linear(h, inner) + _linear(inner, h)
    wide = h * m * m
    merger = _linear(wide, wide) + _linear(wide, out)
    stacks = len(v.list("deepstack_visual_indexes", [8, 16, 24])) if deepstack else 0
    return (c * t * p * p * h + h + v.int("num_position_embeddings", 2304) * h + depth * block
            + 2 * h + merger + stacks * (2 * wide + merger))


def gemma4(v: ConfigReader, text_hidden: int) -> int:
    """Gemma 4's vision model and embedder (``Gemma4VisionModel``, ``Gemma4MultimodalEmbedder``):
    a patch projection 3 p^2 h and a (2 x positions x h) table; L layers of attention without
    biases (q, k, v, o; q and k norms of head_dim), a gated MLP, 4 RMSNorms; the projection
    h -> text hidden; with ``standardize`` the stored std bias and scale (2 h)."""
    h, inner, layers = v.int("hidden_size", 768), v.int("intermediate_size", 3072), v.int("num_hidden_layers", 16)
    heads, kv, hd = v.int("num_attention_heads", 12), v.int("num_key_value_heads", 12), v.int("head_dim", 64)
    p, pos = v.int("patch_size", 16), v.int("position_embedding_size", 10240)
    if v.bool("use_clipped_linears", False):
        v._fail("use_clipped_linears", "clipped linears' stored bounds are not modelled yet")
    attention = h * heads * hd + 2 * h * kv * hd + heads * hd * h + 2 * hd
    return (3 * p * p * h + 2 * pos * h + layers * (attention + 3 * h * inner + 4 * h) + h * text_hidden
            + (2 * h if v.bool("standardize", False) else 0))


def step3(v: ConfigReader, text_hidden: int, projector_bias: bool) -> int:
    """Step3's vision transformer, downsamplers and projector (sglang ``Step3VisionTransformer``):
    a class embedding, a biased patch conv and a position table of (image / p)^2 + 1; L layers of
    biased qkv, out, fc1, fc2 and two LayerNorms; a 2x2 conv h -> o, a 3x3 conv o -> 2o (biased)
    and a projector 2o -> text hidden."""
    h, inner, layers = v.int("hidden_size", 1792), v.int("intermediate_size", 3072), v.int("num_hidden_layers", 63)
    p, image, c, out = v.int("patch_size", 14), v.int("image_size", 728), v.int("num_channels", 3), \
        v.int("output_hidden_size", 4096)
    positions = (image // p) ** 2 + 1
    layer = _linear(h, 3 * h) + _linear(h, h) + _linear(h, inner) + _linear(inner, h) + 4 * h
    return (h + c * p * p * h + h + positions * h + layers * layer + h * out * 4 + out + out * 2 * out * 9 + 2 * out
            + _linear(2 * out, text_hidden, projector_bias))
