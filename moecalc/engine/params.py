"""Parameter counts, exact to the integer, split into named components.

Each building block returns ``(matrix, vector)``: matrix parameters are the weights of linear
layers and embeddings (what a quantized checkpoint stores in low precision); vector parameters
are biases, norm weights, attention sinks and router score biases (kept in high precision).
All functions broadcast over numpy arrays.

Layouts follow the Hugging Face ``transformers`` modelling code of each family (LlamaAttention,
DeepseekV3Attention, GptOssExperts, ...); the tests cross-check them against safetensors sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from moecalc.engine.records import Out

if TYPE_CHECKING:
    from moecalc.engine.schedule import Schedule

COMPONENTS = ("embedding", "attention", "mixer", "dense_ffn", "routed_experts", "shared_experts",
              "router", "norms", "lm_head", "vision")
"""Named parts of a model's parameters, in display order; they sum to params.total. ``mixer``:
the recurrent layers of a hybrid (linear attention, delta rules, Mamba); ``vision``: a
multimodal model's vision tower and projector (loaded, so in the total; no text token uses it)."""


def norm_params(width, bias):
    """RMSNorm holds a weight of ``width``; LayerNorm adds a bias: width x (1 + bias)."""
    return np.multiply(width, 1 + np.asarray(bias, dtype=np.int64))


def gqa_attention_params(h, n_heads, n_kv_heads, head_dim, v_head_dim, qkv_bias, o_bias,
                         qk_norm_width, sinks):
    """Grouped-query attention (MHA: n_kv = n_heads; MQA: n_kv = 1), one layer.

    matrix = h*n*d (W_q) + h*n_kv*d (W_k) + h*n_kv*d_v (W_v) + n*d_v*h (W_o)
    vector = qkv_bias*(n*d + n_kv*d + n_kv*d_v) + o_bias*h + qk_norm_width + sinks*n

    ``qk_norm_width`` is the number of q/k norm weights: 2*d for per-head norms (Qwen3),
    n*d + n_kv*d for full-width norms (OLMoE), 0 for none. Attention sinks (gpt-oss) hold one
    logit per head. Source: Vaswani et al. 2017; Ainslie et al. 2023 (GQA).
    """
    q_out = n_heads * head_dim
    kv_out = n_kv_heads * (head_dim + v_head_dim)
    matrix = h * (q_out + kv_out) + n_heads * v_head_dim * h
    vector = (np.multiply(qkv_bias, q_out + kv_out) + np.multiply(o_bias, h) + qk_norm_width
              + np.multiply(sinks, n_heads))
    return matrix, vector


def mla_attention_params(h, n_heads, q_lora_rank, kv_lora_rank, qk_nope_head_dim,
                         qk_rope_head_dim, v_head_dim, qkv_bias, o_bias):
    """Multi-head latent attention (DeepSeek-V2/V3, Kimi K2), one layer.

    With d_qk = d_nope + d_rope, r_q = q_lora_rank, r_kv = kv_lora_rank, n heads:
      queries  r_q > 0: h*r_q (W_DQ) + r_q (norm) + r_q*n*d_qk (W_UQ, W_QR)
               r_q = 0: h*n*d_qk (W_Q)
      keys/values: h*(r_kv + d_rope) (W_DKV, W_KR) + r_kv (norm) + r_kv*n*(d_nope + d_v) (W_UK, W_UV)
      output:  n*d_v*h (W_O)
    Biases (when ``attention_bias``) sit on W_DQ or W_Q, on W_DKV and on W_O.
    Source: DeepSeek-V2 report (arXiv:2405.04434), section 2.1; HF DeepseekV3Attention.
    """
    d_qk = qk_nope_head_dim + qk_rope_head_dim
    compressed = np.asarray(q_lora_rank) > 0
    q_matrix = np.where(compressed, h * q_lora_rank + q_lora_rank * n_heads * d_qk, h * n_heads * d_qk)
    q_first_out = np.where(compressed, q_lora_rank, n_heads * d_qk)
    kv_a_out = kv_lora_rank + qk_rope_head_dim
    matrix = (q_matrix + h * kv_a_out + kv_lora_rank * n_heads * (qk_nope_head_dim + v_head_dim)
              + n_heads * v_head_dim * h)
    vector = (q_lora_rank + kv_lora_rank + np.multiply(qkv_bias, q_first_out + kv_a_out)
              + np.multiply(o_bias, h))
    return matrix, vector


def ffn_params(h, intermediate, gated, bias):
    """One feed-forward block (a dense MLP or one expert).

    gated (SwiGLU, 3 matrices): matrix = 3*h*I;  ungated (2 matrices): matrix = 2*h*I
    bias: vector = (1 + gated)*I + h  (up [and gate] biases, then the down bias)
    Source: Shazeer 2020 (GLU variants); gpt-oss keeps biases on its experts.
    """
    g = np.asarray(gated, dtype=np.int64)
    matrix = (2 + g) * h * intermediate
    vector = np.multiply(bias, (1 + g) * intermediate + h)
    return matrix, vector


def router_params(h, num_experts, bias):
    """Router (gate) of one MoE layer: matrix = h*E; vector = E if it has a bias.

    The bias is either a learned linear bias (gpt-oss) or DeepSeek-V3's auxiliary-loss-free
    ``e_score_correction_bias``; both hold one value per expert.
    """
    return h * num_experts, np.multiply(bias, num_experts)


@dataclass(frozen=True)
class ParamBreakdown:
    """Per-component (matrix, vector) counts of the main model, its active part and MTP."""

    matrix: dict[str, int]
    vector: dict[str, int]
    active_matrix: dict[str, int]
    active_vector: dict[str, int]
    mtp_by_component: dict[str, int]
    per_expert: int
    active_spread: tuple[int, int] = (0, 0)    # zero experts: active less / more than expected at the extremes

    @property
    def by_component(self) -> dict[str, int]:
        return {c: self.matrix[c] + self.vector[c] for c in self.matrix}

    @property
    def active_by_component(self) -> dict[str, int]:
        return {c: self.active_matrix[c] + self.active_vector[c] for c in self.active_matrix}

    @property
    def total(self) -> int:
        return sum(self.by_component.values())

    @property
    def active(self) -> int:
        return sum(self.active_by_component.values())

    @property
    def embedding(self) -> int:
        return self.by_component["embedding"]

    @property
    def lm_head(self) -> int:
        return self.by_component["lm_head"]

    @property
    def active_range(self) -> list[int]:
        """The fewest and most parameters a token can use: with zero-computation experts a token
        runs between k - Z (at least 0) and k real experts, the expected k E / (E + Z) in between."""
        return [self.active - self.active_spread[0], self.active + self.active_spread[1]]

    @property
    def mtp(self) -> int:
        return sum(self.mtp_by_component.values())

    @property
    def active_fraction(self) -> float:
        return self.active / self.total

    @property
    def total_per_active(self) -> float:
        return self.total / self.active

    REPORT = tuple(Out("params." + key, key, doc, convert) for key, doc, convert in (
        ("total", "every stored parameter of the main model, embedding and lm_head included (once "
                  "if tied), MTP modules apart", int),
        ("active", "parameters one token uses: the total less the routed experts it does not pick (with zero "
                   "experts: the expected count)", int),
        ("active_range", "[fewest, most] parameters a token can use (zero experts; else both the active count)", list),
        ("embedding", "input embedding (V h)", int),
        ("lm_head", "output head (V h; 0 when tied to the embedding)", int),
        ("mtp", "multi-token-prediction (next-n) modules as stored, not in the total", int),
        ("per_expert", "one routed expert (matrices and biases)", int),
        ("active_fraction", "active / total", float),
        ("total_per_active", "total / active: how many times the matmul FLOPs a dense model of "
                             "the same memory would spend", float),
        ("by_component", "the total by component: embedding, attention, dense_ffn, routed_experts, "
                         "shared_experts, router, norms, lm_head (summary form: embedding, "
                         "non_expert, routed_experts, lm_head)", dict),
        ("active_by_component", "the active count by the same components", dict),
        ("mtp_by_component", "the MTP modules by component (projection: their eh_proj)", dict),
    ))


def count_params(s: Schedule) -> ParamBreakdown:
    """Parameters of the main model (MTP apart), by component, total and active, summed over
    the schedule's distinct layers (n_j layers of kind j):

    total  = V h (embedding) + sum_j n_j (mixer_j + FFN_j + norms_j norm) + norm + lm_head + vision
    active = the same with k of the E routed experts of each MoE layer, and no vision tower
    mixer_j is softmax attention (component ``attention``) or a recurrent mixer (``mixer``);
    FFN_j the dense FFN, or E routed experts + shared experts + router; lm_head is V h (0 when
    tied) plus V biases when it has them; a layer has two norms unless it is a single block.
    """
    h, V = s.hidden_size, s.vocab_size
    norm = int(norm_params(h, s.norm_bias))
    zero = dict.fromkeys(COMPONENTS, 0)
    matrix, vector, active_matrix, active_vector = dict(zero), dict(zero), dict(zero), dict(zero)
    matrix["embedding"] = active_matrix["embedding"] = V * h
    head = 0 if s.tie_embeddings else V * h
    matrix["lm_head"] = active_matrix["lm_head"] = head
    vector["lm_head"] = active_vector["lm_head"] = V * int(s.lm_head_bias)
    matrix["vision"] = s.vision_params
    for layer, n in s.kinds:
        am, av = layer.attention.params(h) if layer.attention is not None else (0, 0)
        mixer = "mixer" if getattr(layer.attention, "kind", "") == "recurrent" else "attention"
        for (into_m, into_v), parts in (((matrix, vector), layer.ffn.parts(h) if layer.ffn else {}),
                                        ((active_matrix, active_vector), layer.ffn.active_parts(h) if layer.ffn else {})):
            parts = {mixer: (am, av), **parts, "norms": (0, layer.norms * norm + layer.scalars)}
            for component, (m, v) in parts.items():
                into_m[component] += n * m
                into_v[component] += n * v
    vector["norms"] += norm                 # the final norm
    active_vector["norms"] += norm
    moe = s.moe
    less = more = 0
    for layer, n in s.kinds:
        f = layer.ffn
        if getattr(f, "num_zero_experts", 0):
            expert, expected = sum(f.expert(h)), f.expected_routed
            fewest = max(f.top_k - f.num_zero_experts, 0)
            less += n * (round(expected * expert) - fewest * expert)
            more += n * (f.top_k * expert - round(expected * expert))
    return ParamBreakdown(matrix, vector, active_matrix, active_vector, _mtp(s, norm),
                          per_expert=sum(moe.expert(h)) if moe else 0, active_spread=(less, more))


def _mtp(s: Schedule, norm: int) -> dict[str, int]:
    """Multi-token-prediction (next-n) modules as stored in the checkpoint, per DeepSeek-V3.

    Each module: a full decoder layer (``mtp_layer``: attention + the MoE FFN, or the dense FFN
    for a dense model, + 2 norms), enorm and hnorm (2 norms), eh_proj (2h x h), shared_head.norm,
    and its own stored copies of the embedding and output head (V*h each).
    Source: DeepSeek-V3 report section 2.2; HF checkpoint ``model.layers.61.*``.
    """
    n, h, V, layer = s.mtp_layers, s.hidden_size, s.vocab_size, s.mtp_layer
    if n == 0 or layer is None:
        return {}
    ffn = {c: m + v for c, (m, v) in (layer.ffn.parts(h) if layer.ffn else {}).items()}
    return {
        "embedding": n * V * h,
        "attention": n * (sum(layer.attention.params(h)) if layer.attention is not None else 0),
        "dense_ffn": n * ffn.get("dense_ffn", 0),
        "routed_experts": n * ffn.get("routed_experts", 0),
        "shared_experts": n * ffn.get("shared_experts", 0),
        "router": n * ffn.get("router", 0),
        "norms": n * 5 * norm,
        "projection": n * 2 * h * h,
        "lm_head": n * V * h,
    }
