"""The plain-number description of a model architecture that the engine reads.

Built from a validated spec (``moecalc.spec``); holds no pydantic and no I/O. Per-layer facts
(attention span, MoE or dense FFN) are numpy arrays of length ``num_layers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Attended span of a full-attention layer: larger than any context, finite so that products
# with zero stay zero.
FULL_SPAN = 1e18

COMPONENTS = ("embedding", "attention", "dense_ffn", "routed_experts", "shared_experts",
              "router", "norms", "lm_head")
"""Named parts of a model's parameters, in display order; they sum to params.total."""

QUANTIZABLE = ("attention", "dense_ffn", "routed_experts", "shared_experts")
"""Components whose matrices a quantized checkpoint usually stores in the low-bit dtype."""


@dataclass(frozen=True)
class Arch:
    hidden_size: int
    num_layers: int
    vocab_size: int
    tie_embeddings: bool = False
    lm_head_bias: bool = False
    norm_bias: bool = False                 # LayerNorm (weight + bias) instead of RMSNorm
    # attention
    attention: str = "gqa"                  # "gqa" (covers MHA and MQA) or "mla"
    num_heads: int = 1
    num_kv_heads: int = 1
    head_dim: int = 1                       # q/k head dim (GQA)
    v_head_dim: int = 1
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: str = "none"                   # "none" | "per_head" | "full"
    sinks: bool = False
    q_lora_rank: int = 0                    # MLA; 0 = queries not compressed
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    layer_span: np.ndarray = field(default_factory=lambda: np.zeros(0))     # tokens attended
    layer_chunked: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # dense FFN
    ffn_intermediate: int = 0
    ffn_gated: bool = True
    ffn_bias: bool = False
    # MoE
    moe_layer: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    num_experts: int = 0
    top_k: int = 0
    expert_intermediate: int = 0
    expert_gated: bool = True
    expert_bias: bool = False
    num_shared_experts: int = 0
    shared_intermediate: int = 0
    shared_expert_gate: bool = False
    router_bias: bool = False
    mtp_layers: int = 0
    expert_groups: int = 0                  # group-limited routing: G groups, at most M per token (0: none)
    groups_per_token: int = 0

    @property
    def num_moe_layers(self) -> int:
        return int(np.count_nonzero(self.moe_layer))

    @property
    def num_dense_layers(self) -> int:
        return self.num_layers - self.num_moe_layers
