"""One evaluation of a model over broadcast workload arrays: the single path to every
model-only number (weights, KV cache, activation workspace, FLOPs per token).

``estimate`` calls this with scalars (a sweep of size one); sweeps call it with grids.
"""

from __future__ import annotations

import numpy as np

from moecalc.engine import flops, kv, memory
from moecalc.engine.model import ModelNumbers
from moecalc.engine.records import Breakdown, Precision, Runtime, Workload
from moecalc.engine.results import Flops, ModelResult


def weights_by_component(m: ModelNumbers, p: Precision) -> Breakdown:
    """Bytes per component: quantized components' matrices at ``quantized_bits``, everything
    else at ``unquantized_bits`` (``memory.weight_bytes``); a component in ``component_bits``
    takes its own bits for its matrices."""
    pb = m.params
    own = dict(p.component_bits)
    return Breakdown({c: memory.weight_bytes(pb.matrix[c], pb.vector[c],
                                             own.get(c, p.quantized_bits if c in m.quantized else p.unquantized_bits),
                                             p.unquantized_bits)
                      for c in pb.matrix})


def kv_cache_bytes(m: ModelNumbers, kv_bytes, context, batch) -> np.ndarray:
    """KV cache of ``batch`` sequences of ``context`` tokens, summed over attention shapes
    (``kv.kv_cache_bytes`` of each, over its spans)."""
    return sum(kv.kv_cache_bytes(g.cache_elements, kv_bytes, context, batch, g.span, g.count) for g in m.attention)


def attention_flops(m: ModelNumbers, context, prefill: bool) -> np.ndarray:
    """Score and value FLOPs per token summed over attention shapes: sum_g c_g sum_s n_s keys_s,
    with keys per query of a causal prompt (prefill) or of one new token (decode), at most the
    shape's attended cap (DSA's top-k: a query attends min(keys, k), like a window of k); a DSA
    indexer adds i_g per held key; a recurrent mixer adds its recurrence's FLOPs per token,
    whatever the context (r_g n_g)."""
    total = 0.0
    for g in m.attention:
        if g.flops_per_token:
            total = total + g.flops_per_token * float(g.count.sum())
        attended = np.minimum(g.span, g.attend_cap)
        if prefill:
            total = total + flops.attention_flops(g.prefill_flops_per_key, flops.prefill_keys(context, attended, g.chunked),
                                                  g.count)
            if g.index_flops_per_key:
                total = total + flops.attention_flops(g.index_flops_per_key,
                                                      flops.prefill_keys(context, g.span, g.chunked), g.count)
        else:
            total = total + flops.attention_flops(g.decode_flops_per_key, flops.decode_keys(context, attended), g.count)
            if g.index_flops_per_key:
                total = total + flops.attention_flops(g.index_flops_per_key, flops.decode_keys(context, g.span),
                                                      g.count)
    return total


def evaluate(m: ModelNumbers, workload: Workload, precision: Precision, runtime: Runtime) -> ModelResult:
    """All workload-dependent model quantities; every field of the three records broadcasts."""
    context, batch = workload.context, workload.batch
    matmul = flops.matmul_flops(m.params.active, m.params.embedding)
    return ModelResult(
        workload=workload, precision=precision,
        weights=weights_by_component(m, precision),
        kv_bytes_per_token=sum(kv.kv_bytes_per_token(g.cache_elements, precision.kv_bytes, g.count.sum())
                               for g in m.attention),
        kv_cache_bytes=kv_cache_bytes(m, precision.kv_bytes, context, batch),
        activation_workspace_bytes=memory.activation_workspace_bytes(
            context, batch, runtime.prefill_chunk_tokens, runtime.activation_bytes, m.hidden_size,
            m.widest_activation, m.vocab_size, runtime.logits_bytes),
        runtime_overhead_bytes=np.asarray(runtime.runtime_overhead_bytes, dtype=np.float64),
        prefill=Flops(matmul, attention_flops(m, context, prefill=True)),
        decode=Flops(matmul, attention_flops(m, context, prefill=False)),
        state_bytes_per_sequence=m.state_elements * np.asarray(precision.kv_bytes, dtype=np.float64),
    )
