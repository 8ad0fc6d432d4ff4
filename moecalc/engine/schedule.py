"""A model architecture as a per-layer schedule: each layer is an attention block with the span
it attends, and an FFN block (dense, MoE or none), each with its own shapes.

A block kind is one class that answers the same few questions (its parameters, what it caches
per token, its FLOPs per key, its widest activation); the engine's sums run over the distinct
kinds of layer (``Schedule.kinds``), not over the L layers, so a new kind of layer (linear
attention, a Mamba mixer with a constant state, sparse attention) is one new class here, not a
new code path. Built from a validated spec by ``moecalc.spec``; no pydantic, no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Union

from moecalc.engine import kv
from moecalc.engine.params import COMPONENTS, ffn_params, gqa_attention_params, mla_attention_params, router_params

FULL_SPAN = 1e18
"""Attended span of a full-attention layer: larger than any context, finite so that products
with zero stay zero."""

QUANTIZABLE = ("attention", "mixer", "dense_ffn", "routed_experts", "shared_experts")
"""Components whose matrices a quantized checkpoint usually stores in the low-bit dtype."""


# ---- attention blocks ------------------------------------------------------------------------
@dataclass(frozen=True)
class GQA:
    """Grouped-query attention (MHA: n_kv = n; MQA: n_kv = 1): n heads of d, n_kv key/value heads."""
    num_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: str = "none"           # "none" | "per_head" (Qwen3: 2d) | "full" (OLMoE: (n + n_kv) d)
    sinks: bool = False             # one learned sink logit per head (gpt-oss)
    output_gate: bool = False       # q_proj also yields a sigmoid gate per head (Qwen3-Next): + h n d
    values_from_keys: bool = False  # no v_proj; the cache holds the keys once (Gemma 4 full layers)
    q_lora_rank: int = 0            # low-rank queries (Step3): h r + r (norm) + r n d instead of h n d
    kind: ClassVar[str] = "gqa"

    def params(self, h: int) -> tuple[int, int]:
        """``gqa_attention_params``, then: an output gate doubles W_q (and its bias); values from
        the keys drop W_v (and its bias); low-rank queries replace W_q by h r + r n d and a norm r."""
        qk_norm_width = {"none": 0, "per_head": 2 * self.head_dim,
                         "full": (self.num_heads + self.num_kv_heads) * self.head_dim}[self.qk_norm]
        m, v = gqa_attention_params(h, self.num_heads, self.num_kv_heads, self.head_dim, self.v_head_dim,
                                    self.qkv_bias, self.o_bias, qk_norm_width, self.sinks)
        q = self.num_heads * self.head_dim
        if self.output_gate:
            m, v = m + h * q, v + self.qkv_bias * q
        if self.values_from_keys:
            m, v = m - h * self.num_kv_heads * self.v_head_dim, v - self.qkv_bias * self.num_kv_heads * self.v_head_dim
        if self.q_lora_rank:
            m, v = m - h * q + h * self.q_lora_rank + self.q_lora_rank * q, v + self.q_lora_rank
        return int(m), int(v)

    @property
    def cache_elements(self) -> int:
        """Values cached per token: n_kv (d + d_v), or n_kv d when values are the keys."""
        if self.values_from_keys:
            return self.num_kv_heads * self.head_dim
        return int(kv.gqa_kv_elements(self.num_kv_heads, self.head_dim, self.v_head_dim))

    @property
    def cache_heads(self) -> int:
        """Heads the cache splits over under TP (down to one per rank)."""
        return self.num_kv_heads

    @property
    def prefill_dims(self) -> tuple[int, int]:
        """Per-head (d_qk, d_v) of the score and value products."""
        return self.head_dim, self.v_head_dim

    decode_dims = prefill_dims

    @property
    def activation_width(self) -> int:
        """The fused QKV output per token: n d + n_kv (d + d_v)."""
        return self.num_heads * self.head_dim + self.num_kv_heads * (self.head_dim + self.v_head_dim)


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention (DeepSeek-V2/V3, Kimi K2): a cached latent of r_kv plus a
    shared RoPE key of d_rope per token, replicated (not split) under TP."""
    num_heads: int
    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    qkv_bias: bool = False
    o_bias: bool = False
    index_n_heads: int = 0          # DeepSeek Sparse Attention's lightning indexer (0: none)
    index_head_dim: int = 0
    index_topk: int = 0             # keys each query attends
    kind: ClassVar[str] = "mla"

    def params(self, h: int) -> tuple[int, int]:
        """``mla_attention_params``; a DSA indexer adds W_q (r_q n_i d_i), W_k (h d_i), a LayerNorm
        on its keys (2 d_i) and head weights (h n_i) (DeepseekV32Indexer)."""
        m, v = mla_attention_params(h, self.num_heads, self.q_lora_rank, self.kv_lora_rank,
                                    self.qk_nope_head_dim, self.qk_rope_head_dim, self.v_head_dim,
                                    self.qkv_bias, self.o_bias)
        if self.index_n_heads:
            q_in = self.q_lora_rank or h
            m = m + q_in * self.index_n_heads * self.index_head_dim + h * self.index_head_dim + h * self.index_n_heads
            v = v + 2 * self.index_head_dim
        return int(m), int(v)

    @property
    def cache_elements(self) -> int:
        """The latent and the RoPE key (r_kv + d_rope), plus the indexer's key (d_i) under DSA."""
        return int(kv.mla_kv_elements(self.kv_lora_rank, self.qk_rope_head_dim)) + self.index_head_dim

    @property
    def attend_cap(self) -> float:
        """Keys a query attends at most: DSA's top-k, else every key held."""
        return float(self.index_topk) if self.index_topk else FULL_SPAN

    @property
    def index_flops_per_key(self) -> int:
        """The indexer scores every held key: 2 n_i d_i FLOPs per key (its ReLU and weights aside)."""
        return 2 * self.index_n_heads * self.index_head_dim

    cache_heads = 0     # the latent is shared by every head: each TP rank holds all of it

    @property
    def prefill_dims(self) -> tuple[int, int]:
        """Naive form in prefill (K and V up-projected per head): (d_nope + d_rope, d_v)."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim, self.v_head_dim

    @property
    def decode_dims(self) -> tuple[int, int]:
        """Weight-absorbed form in decode, over the cached latent: (r_kv + d_rope, r_kv)."""
        return self.kv_lora_rank + self.qk_rope_head_dim, self.kv_lora_rank

    @property
    def activation_width(self) -> int:
        """Per token: n (d_qk + d_nope + d_v), the up-projected queries, keys and values."""
        return self.num_heads * (self.prefill_dims[0] + self.qk_nope_head_dim + self.v_head_dim)


@dataclass(frozen=True)
class Recurrent:
    """A mixer that keeps a constant state per sequence instead of a growing KV cache: linear
    attention and delta-rule layers (Gated DeltaNet, lightning attention, KDA) and Mamba-1/2.

    Its numbers come from the variant's formulas in ``moecalc.spec.mixers`` (each from the
    family's transformers modeling code): ``matrix`` and ``vector`` parameters of one layer,
    ``state_elements`` held per sequence (the recurrent matrix state plus the causal-conv
    window), ``flops_per_token`` of the recurrence beyond its projections' matmuls, ``heads``
    the state and projections split over under TP, ``width`` its widest activation per token.
    """
    variant: str
    heads: int
    matrix: int
    vector: int
    state_elements: int
    flops_per_token: int
    width: int
    kind: ClassVar[str] = "recurrent"

    def params(self, h: int) -> tuple[int, int]:
        return self.matrix, self.vector

    cache_elements: ClassVar[int] = 0      # nothing grows with the context

    @property
    def num_heads(self) -> int:
        return self.heads

    @property
    def cache_heads(self) -> int:
        return self.heads

    prefill_dims: ClassVar[tuple[int, int]] = (0, 0)
    decode_dims: ClassVar[tuple[int, int]] = (0, 0)

    @property
    def activation_width(self) -> int:
        return self.width


Attention = Union[GQA, MLA, Recurrent]


# ---- FFN blocks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseFFN:
    """A dense MLP of width I (gated: SwiGLU, 3 matrices; else 2)."""
    intermediate: int
    gated: bool = True
    bias: bool = False

    def parts(self, h: int) -> dict[str, tuple[int, int]]:
        m, v = ffn_params(h, self.intermediate, self.gated, self.bias)
        return {"dense_ffn": (int(m), int(v))}

    active_parts = parts

    @property
    def activation_width(self) -> int:
        return (1 + self.gated) * self.intermediate


@dataclass(frozen=True)
class MoE:
    """E routed experts of width I_e (k per token), n_s shared experts of width I_s, a router;
    group-limited routing picks a token's experts from at most M of G expert groups."""
    num_experts: int
    top_k: int
    expert_intermediate: int
    gated: bool = True
    expert_bias: bool = False
    num_shared_experts: int = 0
    shared_intermediate: int = 0
    shared_expert_gate: bool = False    # a sigmoid gate of h params on the shared expert (Qwen2-MoE)
    router_bias: bool = False
    expert_groups: int = 0              # G (0: no group limit)
    groups_per_token: int = 0           # M
    num_zero_experts: int = 0           # Z identity experts the router may pick (LongCat): no weights
    shared_gated: bool | None = None    # the shared experts' MLP gated or not (None: as the experts)
    parallel_dense: int = 0             # a dense gated MLP of this width beside the experts (Gemma 4)
    router_scale: bool = False          # a learned scale of h on the router's input (Gemma 4)

    def expert(self, h: int) -> tuple[int, int]:
        m, v = ffn_params(h, self.expert_intermediate, self.gated, self.expert_bias)
        return int(m), int(v)

    def parts(self, h: int) -> dict[str, tuple[int, int]]:
        """routed: E x expert; shared: n_s x expert(I_s) (+ h for the gate); router: h E (+ E bias)."""
        em, ev = self.expert(h)
        shared_gated = self.gated if self.shared_gated is None else self.shared_gated
        sm, sv = ffn_params(h, self.shared_intermediate, shared_gated, self.expert_bias)
        rm, rv = router_params(h, self.num_experts + self.num_zero_experts, self.router_bias)
        rv = rv + self.router_scale * h
        dm, dv = ffn_params(h, self.parallel_dense, True, False)
        return {"routed_experts": (self.num_experts * em, self.num_experts * ev),
                "dense_ffn": (int(dm), int(dv)),
                "shared_experts": (self.num_shared_experts * int(sm) + self.shared_expert_gate * h,
                                   self.num_shared_experts * int(sv)),
                "router": (int(rm), int(rv))}

    @property
    def expected_routed(self) -> float:
        """Real experts a token runs on average: k E / (E + Z) (a router balanced over all E + Z
        slots; k without zero experts)."""
        return self.top_k * self.num_experts / (self.num_experts + self.num_zero_experts)

    def active_parts(self, h: int, routed: float | None = None) -> dict[str, tuple[int, int]]:
        """A token uses k of the E routed experts (``routed`` of them: the expected number with
        zero experts, or a bound of its range); everything else in the layer is active."""
        em, ev = self.expert(h)
        r = self.expected_routed if routed is None else routed
        return dict(self.parts(h), routed_experts=(round(r * em), round(r * ev)))

    @property
    def activation_width(self) -> int:
        """k routed experts' and the shared experts' up (and gate) outputs: (1 + g)(k I_e + n_s I_s)."""
        return (1 + self.gated) * (self.top_k * self.expert_intermediate
                                   + self.num_shared_experts * self.shared_intermediate) + 2 * self.parallel_dense


FFN = Union[DenseFFN, MoE, None]


@dataclass(frozen=True)
class Layer:
    """One decoder layer: attention (or a recurrent mixer) over ``span`` tokens (a sliding window
    W, a chunk C when ``chunked``, or unbounded), then an FFN, with ``norms`` norms (two: before
    each). A single-mixer block (Nemotron-H) has one of the two (the other None) and one norm."""
    attention: Attention | None
    ffn: FFN
    span: float = FULL_SPAN
    chunked: bool = False
    norms: int = 2
    scalars: int = 0                    # stored per-layer scalars outside the blocks (Gemma 4's layer_scalar)


@dataclass(frozen=True)
class Schedule:
    """The whole model: embedding, the layers in order, a final norm, the output head, and the
    multi-token-prediction modules stored beside it (each repeats ``mtp_layer``)."""
    hidden_size: int
    vocab_size: int
    layers: tuple[Layer, ...]
    tie_embeddings: bool = False
    lm_head_bias: bool = False
    norm_bias: bool = False          # LayerNorm (weight + bias) instead of RMSNorm
    mtp_layers: int = 0
    mtp_layer: Layer | None = None
    vision_params: int = 0           # a multimodal model's vision tower and projector, as loaded

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @cached_property
    def kinds(self) -> tuple[tuple[Layer, int], ...]:
        """Distinct layers with how many times each occurs, in order of first appearance."""
        return tuple(Counter(self.layers).items())

    @property
    def moe(self) -> MoE | None:
        """The routed-expert block (the first, if layers differ), or None for a dense model."""
        return next((layer.ffn for layer, _ in self.kinds if isinstance(layer.ffn, MoE)), None)

    @property
    def num_moe_layers(self) -> int:
        return sum(n for layer, n in self.kinds if isinstance(layer.ffn, MoE))
