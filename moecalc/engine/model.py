"""Everything the evaluation needs to know about one model, as plain numbers and arrays.

Built from an architecture (``from_arch``) or from a summary of stated totals
(``from_summary``); both feed the same ``evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moecalc.engine.arch import Arch
from moecalc.engine.kv import gqa_kv_elements, mla_kv_elements
from moecalc.engine.params import ParamBreakdown, count_params


@dataclass(frozen=True)
class ModelNumbers:
    params: ParamBreakdown
    quantized: tuple[str, ...]      # components whose matrices take the quantized weight dtype
    num_layers: int
    hidden_size: int
    vocab_size: int
    num_heads: int
    kv_elements: int                # cached values per token per layer
    layer_span: np.ndarray          # per group of alike layers: tokens attended / held at most
    layer_chunked: np.ndarray       # ... True where the span is a chunk, not a sliding window
    layer_count: np.ndarray         # ... and how many layers the group holds
    prefill_dims: tuple[int, int]   # per-head (d_qk, d_v) of the attention GEMMs in prefill
    decode_dims: tuple[int, int]    # ... and in decode (MLA absorbed)
    widest_intermediate: int        # widest activation of any layer, per token
    num_experts: int = 0            # routed experts per MoE layer (0: dense)
    top_k: int = 0
    num_moe_layers: int = 0
    num_kv_heads: int = 1           # GQA kv heads (TP splits them down to one per rank)
    is_mla: bool = False            # MLA: the latent cache is replicated under TP
    expert_groups: int = 0          # group-limited routing (DeepSeek n_group / topk_group); 0: none
    groups_per_token: int = 0


def attention_shape(attention: str, num_heads, num_kv_heads, head_dim, v_head_dim, kv_lora_rank,
                    qk_nope_head_dim, qk_rope_head_dim):
    """(KV values per token per layer, per-head (d_qk, d_v) in prefill, in decode, widest
    attention activation per token) for GQA-family or MLA attention.

    MLA prefill runs the naive form (d_nope + d_rope, d_v) with K and V up-projected per head;
    decode runs the absorbed form (r_kv + d_rope, r_kv) over the cached latent.
    """
    if attention == "mla":
        prefill = (qk_nope_head_dim + qk_rope_head_dim, v_head_dim)
        decode = (kv_lora_rank + qk_rope_head_dim, kv_lora_rank)
        width = num_heads * (prefill[0] + qk_nope_head_dim + v_head_dim)
        return int(mla_kv_elements(kv_lora_rank, qk_rope_head_dim)), prefill, decode, width
    dims = (head_dim, v_head_dim)
    width = num_heads * head_dim + num_kv_heads * (head_dim + v_head_dim)
    return int(gqa_kv_elements(num_kv_heads, head_dim, v_head_dim)), dims, dims, width


def from_arch(a: Arch, quantized: tuple[str, ...]) -> ModelNumbers:
    kv, prefill, decode, attn_width = attention_shape(
        a.attention, a.num_heads, a.num_kv_heads, a.head_dim, a.v_head_dim, a.kv_lora_rank,
        a.qk_nope_head_dim, a.qk_rope_head_dim)
    widths = [attn_width]
    if a.num_dense_layers:
        widths.append((1 + a.ffn_gated) * a.ffn_intermediate)
    if a.num_moe_layers:
        widths.append((1 + a.expert_gated) * (a.top_k * a.expert_intermediate
                                              + a.num_shared_experts * a.shared_intermediate))
    return ModelNumbers(
        params=count_params(a), quantized=quantized, num_layers=a.num_layers,
        hidden_size=a.hidden_size, vocab_size=a.vocab_size, num_heads=a.num_heads,
        kv_elements=int(kv), **layer_groups(a.layer_span, a.layer_chunked),
        prefill_dims=prefill, decode_dims=decode, widest_intermediate=int(max(widths)),
        num_experts=a.num_experts, top_k=a.top_k, num_moe_layers=a.num_moe_layers,
        num_kv_heads=a.num_kv_heads, is_mla=a.attention == "mla", expert_groups=a.expert_groups,
        groups_per_token=a.groups_per_token)


def layer_groups(span: np.ndarray, chunked: np.ndarray) -> dict:
    """Group per-layer (span, chunked) into distinct kinds with counts: sums run over kinds."""
    keys, counts = np.unique(np.stack([span, chunked.astype(np.float64)]), axis=1, return_counts=True)
    return {"layer_span": keys[0], "layer_chunked": keys[1].astype(bool), "layer_count": counts}


def summary_params(total, active, num_experts, top_k, embedding, lm_head) -> ParamBreakdown:
    """Breakdown implied by stated totals when the architecture is not public.

    Inactive routed experts are total - active = R (E - k)/E, so the routed experts hold
    R = (total - active) E / (E - k); the rest (attention, dense and shared FFN, router, norms)
    is what remains after the embedding and the head. Norms and biases are not separable and
    are counted as matrix parameters.
    """
    routed = round((total - active) * num_experts / (num_experts - top_k))
    rest = total - routed - embedding - lm_head
    matrix = {"embedding": embedding, "non_expert": rest, "routed_experts": routed, "lm_head": lm_head}
    active_matrix = dict(matrix, routed_experts=routed - (total - active))
    zeros = dict.fromkeys(matrix, 0)
    return ParamBreakdown(matrix, zeros, active_matrix, zeros, {}, per_expert=0)
