"""Everything the evaluation needs to know about one model, as plain numbers and arrays.

``from_schedule`` reduces an architecture's per-layer schedule to it; ``from_summary`` builds
it from stated totals when the architecture is not public (its two assumptions named in
``Summary``). Both feed the same ``evaluate`` and ``serve``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from moecalc.engine.params import ParamBreakdown, count_params
from moecalc.engine.schedule import Attention, Schedule


@dataclass(frozen=True)
class AttentionGroup:
    """Layers that share one attention shape, by the span they attend: the engine's sums run
    over these (a few per model), e.g. gpt-oss: one shape, spans (128 sliding, unbounded)."""
    heads: int
    cache_elements: int             # values cached per token per layer (0: a recurrent mixer)
    state_elements: int             # values held per sequence per layer whatever the context
    cache_heads: int                # heads TP splits the cache over; 0: replicated (MLA)
    prefill_flops_per_key: int      # 2 n (d_qk + d_v): score and value products, naive form
    decode_flops_per_key: int       # ... absorbed form for MLA
    span: np.ndarray                # per span group: tokens attended and held at most
    chunked: np.ndarray             # ... True where the span is a chunk, not a sliding window
    count: np.ndarray               # ... and how many layers it holds
    flops_per_token: int = 0        # a recurrent mixer's recurrence per token (beyond its matmuls)
    attend_cap: float = 1e18        # keys a query attends at most (DSA's top-k; else all it holds)
    index_flops_per_key: int = 0    # a DSA indexer's scoring of every held key
    index_elements: int = 0         # ... and its key, of cache_elements: read for every held token

    @classmethod
    def of(cls, attention: Attention, span, chunked) -> "AttentionGroup":
        keys, counts = np.unique(np.stack([np.asarray(span, dtype=np.float64), np.asarray(chunked, dtype=np.float64)]),
                                 axis=1, return_counts=True)
        return cls(heads=attention.num_heads, cache_elements=attention.cache_elements,
                   state_elements=getattr(attention, "state_elements", 0),
                   flops_per_token=getattr(attention, "flops_per_token", 0),
                   attend_cap=getattr(attention, "attend_cap", 1e18),
                   index_flops_per_key=getattr(attention, "index_flops_per_key", 0),
                   index_elements=getattr(attention, "index_head_dim", 0),
                   cache_heads=attention.cache_heads,
                   prefill_flops_per_key=2 * attention.num_heads * sum(attention.prefill_dims),
                   decode_flops_per_key=2 * attention.num_heads * sum(attention.decode_dims),
                   span=keys[0], chunked=keys[1].astype(bool), count=counts)


@dataclass(frozen=True)
class ModelNumbers:
    params: ParamBreakdown
    quantized: tuple[str, ...]      # components whose matrices take the quantized weight dtype
    num_layers: int
    hidden_size: int
    vocab_size: int
    attention: tuple[AttentionGroup, ...]
    widest_activation: int          # widest activation of any layer, per token
    num_experts: int = 0            # routed experts per MoE layer (0: dense)
    top_k: int = 0
    num_moe_layers: int = 0
    expert_groups: int = 0          # group-limited routing (DeepSeek n_group / topk_group); 0: none
    groups_per_token: int = 0
    mtp_layers: int = 0             # multi-token-prediction modules stored beside the model
    stored_activation: float = 0.0  # values a layer keeps per token for its backward pass, mean over
    #                                 layers (attention's and the FFN's; 0: use widest_activation)
    num_ffn_layers: int | None = None   # layers with an FFN, dense or MoE (None: every layer;
    #                                     a single-mixer block, Nemotron-H's, has none)

    @property
    def num_mixer_layers(self) -> int:
        """Layers with attention or a recurrent mixer (each ends in a TP all-reduce)."""
        return int(sum(int(g.count.sum()) for g in self.attention))

    @property
    def num_dense_ffn_layers(self) -> int:
        """Layers whose FFN is dense (each ends in a TP all-reduce)."""
        ffn = self.num_layers if self.num_ffn_layers is None else self.num_ffn_layers
        return ffn - self.num_moe_layers

    @property
    def num_heads(self) -> int:
        """Attention heads every layer's count is a multiple of (what TP must divide)."""
        return math.gcd(*(g.heads for g in self.attention))

    @property
    def num_kv_heads(self) -> int:
        """Key/value heads of the GQA-family layers (0 when every layer is MLA)."""
        return math.gcd(*(g.cache_heads for g in self.attention))

    @property
    def is_mla(self) -> bool:
        return all(g.cache_heads == 0 for g in self.attention)

    def tp_problems(self, tp) -> tuple[np.ndarray, np.ndarray]:
        """(heads do not divide over TP, kv heads neither divide over TP nor replicate onto it),
        over every attention shape; MLA caches take any TP."""
        tp = np.asarray(tp, dtype=np.int64)
        heads = np.zeros(np.shape(tp), dtype=bool)
        kv = np.zeros(np.shape(tp), dtype=bool)
        for g in self.attention:
            heads = heads | (g.heads % tp != 0)
            if g.cache_heads:
                kv = kv | ((g.cache_heads % tp != 0) & (tp % g.cache_heads != 0))
        return heads, kv

    @property
    def span_counts(self) -> dict[str, int]:
        """Layers by what they attend: full, sliding (window) or chunked."""
        from moecalc.engine.schedule import FULL_SPAN

        out = {"full": 0, "sliding": 0, "chunked": 0, "recurrent": 0}
        for g in self.attention:
            if not g.cache_elements:
                out["recurrent"] += int(g.count.sum())
                continue
            out["full"] += int(g.count[g.span >= FULL_SPAN].sum())
            out["sliding"] += int(g.count[(g.span < FULL_SPAN) & ~g.chunked].sum())
            out["chunked"] += int(g.count[g.chunked].sum())
        return out

    @property
    def cache_elements(self) -> int:
        """Values cached per token per attention layer (the widest shape's, when they differ)."""
        return max(g.cache_elements for g in self.attention)

    @property
    def state_elements(self) -> int:
        """Values a sequence holds in recurrent state over all layers, whatever its length."""
        return int(sum(g.state_elements * g.count.sum() for g in self.attention))


def from_schedule(s: Schedule, quantized: tuple[str, ...]) -> ModelNumbers:
    """Counts, the attention groups and the widest activation of a per-layer schedule."""
    kinds = s.kinds
    groups = []
    for shape in dict.fromkeys(layer.attention for layer, _ in kinds if layer.attention is not None):
        mine = [(layer, n) for layer, n in kinds if layer.attention == shape]
        groups.append(AttentionGroup.of(shape, np.repeat([x.span for x, _ in mine], [n for _, n in mine]),
                                        np.repeat([x.chunked for x, _ in mine], [n for _, n in mine])))
    widths = [w for layer, _ in kinds for w in (layer.attention.activation_width if layer.attention else 0,
                                                 layer.ffn.activation_width if layer.ffn else 0)]
    moe = s.moe
    return ModelNumbers(
        params=count_params(s), quantized=quantized, num_layers=s.num_layers, hidden_size=s.hidden_size,
        vocab_size=s.vocab_size, attention=tuple(groups), widest_activation=int(max(widths)),
        num_experts=moe.num_experts if moe else 0, top_k=moe.top_k if moe else 0,
        num_moe_layers=s.num_moe_layers, expert_groups=moe.expert_groups if moe else 0,
        groups_per_token=moe.groups_per_token if moe else 0, mtp_layers=s.mtp_layers,
        num_ffn_layers=sum(n for layer, n in kinds if layer.ffn is not None),
        stored_activation=sum(n * stored_per_token(layer, s.hidden_size) for layer, n in kinds) / max(s.num_layers, 1))


def stored_per_token(layer, h: int) -> float:
    """Values one layer stores per token for its backward pass under selective recomputation
    (Korthikanti et al. 2022, without dropout masks and with the attention core recomputed):
    5h (two norm inputs and outputs, the output projection's input) + the attention's projections
    (GQA: q, k, v; MLA: the up-projected heads) + the FFN's up (and gate) outputs and its
    activation's output (x 1.5 gated, x 2 plain), and under MoE the k permuted copies of the token
    (k h). A GPT layer: 5h + 3h + 8h = 16h values, 32 bytes in bf16 (Korthikanti: 34 with masks)."""
    from moecalc.engine.schedule import MoE

    attn = layer.attention.activation_width if layer.attention is not None else 0
    ffn = 0.0
    if layer.ffn is not None:
        ffn = layer.ffn.activation_width * (1.5 if layer.ffn.gated else 2.0)
        if isinstance(layer.ffn, MoE):
            ffn += layer.ffn.top_k * h
    return 5.0 * h + attn + ffn


# ---- the summary form: a model known only by its totals -----------------------------------
@dataclass(frozen=True)
class Summary:
    """A model whose architecture is not public: its stated totals, its attention (for the KV
    cache and attention FLOPs), and the two things a summary cannot state, as named
    assumptions (``moe_layers``: every layer unless given; ``widest_activation``: the
    attention's width or a 4h FFN's, the larger, unless given)."""
    total_params: int
    active_params: int
    num_experts: int
    top_k: int
    num_layers: int
    hidden_size: int
    vocab_size: int
    tie_embeddings: bool
    attention: Attention
    span: np.ndarray
    chunked: np.ndarray
    quantized: tuple[str, ...]
    moe_layers: int | None = None
    widest_activation: int | None = None

    @property
    def assumed(self) -> dict:
        """The assumptions in effect, with their values."""
        return {"moe_layers": self.moe_layers if self.moe_layers is not None else self.num_layers,
                "widest_activation": (self.widest_activation if self.widest_activation is not None else
                                      max(self.attention.activation_width, 4 * self.hidden_size)),
                "norms_and_biases": "inside non_expert, stored in its dtype"}


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


def from_summary(s: Summary) -> ModelNumbers:
    """Model numbers from stated totals: ``summary_params`` for the counts, the summary's
    attention for the cache and attention FLOPs, its assumptions for the rest. Quantizing any
    non-expert component quantizes the whole non-expert part (it is not separable)."""
    emb = s.vocab_size * s.hidden_size
    params = summary_params(s.total_params, s.active_params, s.num_experts, s.top_k, emb,
                            0 if s.tie_embeddings else emb)
    quantized = (("routed_experts",) if "routed_experts" in s.quantized else ()) + (
        ("non_expert",) if set(s.quantized) - {"routed_experts"} else ())
    assumed = s.assumed
    return ModelNumbers(params=params, quantized=quantized, num_layers=s.num_layers, hidden_size=s.hidden_size,
                        vocab_size=s.vocab_size, attention=(AttentionGroup.of(s.attention, s.span, s.chunked),),
                        widest_activation=assumed["widest_activation"], num_experts=s.num_experts,
                        top_k=s.top_k, num_moe_layers=assumed["moe_layers"])
