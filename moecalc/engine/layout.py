"""How a parallel layout splits a model over GPUs: shares, slots and per-GPU weight bytes.

Layout (vLLM / SGLang convention): N = TP x DP x PP GPUs. Attention, dense FFN and shared
experts are split by TP and replicated across DP; each PP stage holds ceil(L/PP) layers. The
MoE layers of a stage use all TP x DP GPUs of the stage: routed experts are split over EP
ranks, and each expert is further split by ETP = TP x DP / EP (ETP = 1 is pure expert
parallelism). ``--redundant-experts R`` adds R replicated experts to the E routed ones so that
E + R slots spread over the EP ranks (DeepSeek's decode: 256 + 32 experts over EP144).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from moecalc.engine.records import Breakdown, Layout

if TYPE_CHECKING:
    from moecalc.engine.model import ModelNumbers


def ceil_div(a, b):
    return -np.floor_divide(-np.asarray(a), b)


def layer_fraction(num_layers, pp):
    """Share of the layers on the fullest pipeline stage: ceil(L / PP) / L."""
    return ceil_div(num_layers, pp) / num_layers


def expert_slots_per_rank(num_experts, redundant, ep):
    """Expert slots on the fullest EP rank: ceil((E + R) / EP)."""
    return ceil_div(np.asarray(num_experts) + redundant, ep)


def expert_imbalance(num_experts, redundant, ep):
    """Load of the fullest EP rank over the mean, uniform routing: ceil((E+R)/EP) EP / (E+R).

    Replicas split their expert's load, so on average each of the E + R slots carries
    1/(E + R) of the routed work and the fullest rank, holding ceil((E+R)/EP) slots, carries
    that many shares. 1 when E + R divides evenly; 8 experts over EP3: 3 x 3 / 8 = 1.125.
    """
    slots = np.asarray(num_experts, dtype=np.float64) + redundant
    return np.where(slots > 0, expert_slots_per_rank(num_experts, redundant, ep) * ep / np.maximum(slots, 1), 1.0)


def experts_touched_fraction(num_experts, top_k, tokens):
    """Expected share of experts that at least one of ``tokens`` tokens routes to (uniform).

    Each token picks k of E without replacement, so an expert is missed by one token with
    probability 1 - k/E and by all T tokens with (1 - k/E)^T:  f = 1 - (1 - k/E)^T.
    A decode step at batch B reads only these experts' weights.
    """
    E = np.maximum(np.asarray(num_experts, dtype=np.float64), 1)
    return np.where(np.asarray(num_experts) > 0, 1 - (1 - np.asarray(top_k) / E) ** np.asarray(tokens, dtype=np.float64), 0.0)


def kv_shard_fraction(cache_heads, tp):
    """Share of a sequence's KV cache one TP rank holds.

    GQA/MHA/MQA: heads split by TP down to one kv head per rank: ceil(n_kv / TP) / n_kv.
    MLA (cache_heads 0): the latent is shared by all heads, so every TP rank holds all of it: 1.
    """
    n_kv = np.maximum(np.asarray(cache_heads, dtype=np.float64), 1)
    return np.where(np.asarray(cache_heads) == 0, 1.0, ceil_div(n_kv, tp) / n_kv)


SPLIT_RULES = {"attention": "tp", "dense_ffn": "tp", "shared_experts": "tp", "non_expert": "tp",
               "routed_experts": "experts", "router": "replicated", "norms": "replicated",
               "embedding": "embedding", "lm_head": "lm_head"}
"""How each weight component is placed; a component not listed is split by TP."""


def weight_bytes_per_gpu(weights: Breakdown, num_experts, layout: Layout, num_layers) -> Breakdown:
    """Weight bytes on the fullest GPU, by component (they sum to the GPU's weight bytes).

    attention, dense FFN, shared experts:  W / TP x layer share
    routed experts:  W / E x ceil((E + R)/EP) / ETP x layer share,  ETP = TP x DP / EP
    router, norms:   W x layer share (replicated)
    embedding, lm_head: W / TP (vocab-parallel); with PP > 1 they sit on the first and last
    stage, so the fullest stage holds the larger of the two.
    """
    tp, dp, ep, pp = layout.tp, layout.dp, layout.ep, layout.pp
    frac = layer_fraction(num_layers, pp)
    etp = np.asarray(tp) * dp / ep
    E = np.maximum(np.asarray(num_experts, dtype=np.float64), 1)
    slots = expert_slots_per_rank(num_experts, layout.redundant_experts, ep)
    single_stage = np.asarray(pp) == 1
    lm_head = weights.get("lm_head", 0.0)

    def placed(name, bytes_):
        rule = SPLIT_RULES.get(name, "tp")
        if rule == "tp":
            return bytes_ / tp * frac
        if rule == "experts":
            return bytes_ / E * slots / etp * frac
        if rule == "replicated":
            return bytes_ * frac
        if rule == "embedding":
            return np.where(single_stage, bytes_, np.maximum(bytes_, lm_head)) / tp
        return np.where(single_stage, bytes_, 0.0) / tp

    return weights.map(placed)


LAYOUT_RULES = ("gpus", "tp_heads", "tp_kv_heads", "pp_layers", "ep_dense", "redundant_dense", "redundant_no_ep",
                "ep_experts", "ep_stage", "gpus_per_node", "scale_out")
"""The rules a layout must keep, in the order they are checked; ``layout_problem`` returns the
1-based index of the first one broken (0: a valid layout)."""


def layout_problem(layout: Layout, model: "ModelNumbers", gpus, scale_up_domain, has_scale_out):
    """Broadcast check of a layout of ``gpus`` GPUs against the model and the GPU; 0 where valid.

    gpus = tp dp pp; heads divide over tp; GQA kv heads divide over tp or tp over them (MLA:
    any); pp <= layers; dense models: ep = 1 and no redundant experts; ep <= E + R and ep
    divides tp dp; GPUs per node within the scale-up domain; several nodes need a scale-out
    network.
    """
    tp, dp, pp, ep = (np.asarray(x, dtype=np.int64) for x in (layout.tp, layout.dp, layout.pp, layout.ep))
    redundant, per_node = np.asarray(layout.redundant_experts), np.asarray(layout.gpus_per_node)
    E = model.num_experts
    dense = E == 0
    heads, kv_heads = model.tp_problems(tp)
    broken = [
        np.asarray(gpus) != tp * dp * pp,
        heads,
        kv_heads,
        pp > model.num_layers,
        dense & (ep != 1),
        dense & (redundant != 0),
        ~dense & (redundant != 0) & (ep == 1),
        ~dense & (ep > E + redundant),
        ~dense & ((tp * dp) % ep != 0),
        per_node > scale_up_domain,
        (np.asarray(gpus) > per_node) & ~np.asarray(has_scale_out, dtype=bool),
    ]
    code = np.zeros(np.broadcast_shapes(*(np.shape(b) for b in broken)), dtype=np.int8)
    for i in range(len(broken) - 1, -1, -1):
        code = np.where(broken[i], i + 1, code)
    return code
