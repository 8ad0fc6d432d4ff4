"""A model served on a parallel layout of one GPU type: per-GPU memory, step time, cost.

``serve`` takes the model's numbers, the ``evaluate`` result (which carries its workload and
precision), the layout, the hardware, the runtime assumptions and a router, all records whose
numeric fields broadcast; ``estimate`` calls it with scalars, sweeps with grids.

Roofline per decode step (one token for each of the B sequences) on the fullest GPU of a
pipeline stage:
  compute = FLOPs / (peak x MFU)
  memory  = (weights the step touches + KV cache read) / (HBM bandwidth x efficiency)
  comm    = MoE all-to-alls + TP all-reduces
  step    = max(compute, memory) + comm           (no overlap)
          = max(compute, memory, comm)            (overlap, e.g. two micro-batches)
  TPOT    = PP x step + PP transfers  (stages run one after another for a batch: PP adds
            memory, not decode speed; no micro-batch interleaving is modelled)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from moecalc.engine import alltoall, kv, layout as lay, memory
from moecalc.engine.fit import largest_fitting
from moecalc.engine.model import ModelNumbers
from moecalc.engine.evaluate import attention_flops
from moecalc.engine.records import Array, Hardware, Layout, Link, Runtime, Workload, f64
from moecalc.engine.results import MAX_SEARCH, AllToAll, Cost, ModelResult, PerGpuMemory, Served, Step
from moecalc.engine.routing import Router, RoutingCache
from moecalc.engine.schedule import FULL_SPAN


def kv_bytes_per_sequence(m: ModelNumbers, kv_bytes, context, tp, layer_share) -> np.ndarray:
    """KV cache of one sequence on one GPU: each attention shape's cache x its TP shard
    (``layout.kv_shard_fraction``) x the pipeline stage's share of the layers."""
    return sum(kv.kv_cache_bytes(g.cache_elements, kv_bytes, context, 1, g.span, g.count)
               * (lay.kv_shard_fraction(g.cache_heads, tp) * layer_share) for g in m.attention)


def kv_read_bytes_per_sequence(m: ModelNumbers, kv_bytes, context, tp, layer_share) -> np.ndarray:
    """KV cache one decoded token of a sequence reads on one GPU: what ``kv_bytes_per_sequence``
    holds, except under DeepSeek Sparse Attention, whose indexer reads every held token's index
    key (d_i) and whose attention reads the latent of only the top-k it selects:
    e_i min(T, S) + (e - e_i) min(T, S, k) per layer (DeepSeek-V3.2-Exp report, section 2.1)."""
    return sum((kv.kv_cache_bytes(g.index_elements, kv_bytes, context, 1, g.span, g.count)
                + kv.kv_cache_bytes(g.cache_elements - g.index_elements, kv_bytes, context, 1,
                                    np.minimum(g.span, g.attend_cap), g.count))
               * (lay.kv_shard_fraction(g.cache_heads, tp) * layer_share) for g in m.attention)


def state_bytes_per_sequence(m: ModelNumbers, kv_bytes, tp, layer_share) -> np.ndarray:
    """Recurrent state of one sequence on one GPU: each recurrent mixer's state x its TP shard
    (split over its heads like a GQA cache) x the stage's share of the layers; 0 without."""
    return sum(g.state_elements * float(g.count.sum()) * f64(kv_bytes)
               * (lay.kv_shard_fraction(g.cache_heads, tp) * layer_share) for g in m.attention)


def per_gpu_memory(m: ModelNumbers, ev: ModelResult, layout: Layout, hardware: Hardware, runtime: Runtime,
                   limits: bool = True) -> PerGpuMemory:
    """Bytes on the fullest GPU, and (``limits``) the largest batch and longest context that fit.

    The memory curve is piecewise linear in the batch (the workspace saturates at the prefill
    chunk) and in the context (sliding and chunked layers stop growing at their span), so the
    inverse is exact (``fit.largest_fitting``). ``limits=False`` (NaN) is what a sweep asks for
    rows it does not report.
    """
    B, L = f64(ev.workload.batch), f64(ev.workload.context)
    tp, dp, pp = f64(layout.tp), f64(layout.dp), f64(layout.pp)
    gpus = tp * dp * pp
    b = lay.ceil_div(B, dp)                            # sequences per DP replica
    share = lay.layer_fraction(m.num_layers, pp)
    weights = lay.weight_bytes_per_gpu(ev.weights, m.num_experts, replace(layout, tp=tp, dp=dp, pp=pp,
                                                                         ep=f64(layout.ep)), m.num_layers)
    kv_bytes = ev.precision.kv_bytes

    def workspace(ctx, seqs):
        return memory.activation_workspace_bytes(ctx, seqs, runtime.prefill_chunk_tokens, runtime.activation_bytes,
                                                 m.hidden_size, m.widest_activation, m.vocab_size,
                                                 runtime.logits_bytes)

    state = state_bytes_per_sequence(m, kv_bytes, tp, share)
    out = PerGpuMemory(weights=weights, kv_cache=b * kv_bytes_per_sequence(m, kv_bytes, L, tp, share),
                       recurrent_state=b * state,
                       activation_workspace=workspace(L, b),
                       runtime_overhead=f64(runtime.runtime_overhead_bytes) + 0 * gpus,
                       comm_buffer=np.where(gpus > 1, runtime.comm_buffer_bytes, 0.0),
                       capacity=f64(hardware.memory_capacity) + 0 * gpus,
                       usable=f64(hardware.memory_capacity) * runtime.gpu_memory_utilization + 0 * gpus)
    if not limits:
        return out
    fixed = weights.total + runtime.runtime_overhead_bytes + out.comm_buffer
    chunk = f64(runtime.prefill_chunk_tokens)
    seqs = largest_fitting(lambda x: fixed + x * (kv_bytes_per_sequence(m, kv_bytes, L, tp, share) + state)
                           + workspace(L, x),
                           [chunk / L], out.usable, upper=MAX_SEARCH)
    # (return_counts: numpy 2's plain np.unique imports numpy.ma, ~50 ms of a CLI start)
    spans = [s for s in np.unique(np.concatenate([g.span for g in m.attention]), return_counts=True)[0] if s < FULL_SPAN]
    context = largest_fitting(lambda x: fixed + b * (kv_bytes_per_sequence(m, kv_bytes, x, tp, share) + state)
                              + workspace(x, b),
                              spans + [chunk / b], out.usable, upper=MAX_SEARCH)
    return replace(out, max_batch=np.floor(seqs) * dp, max_context=np.floor(context))


def saturation(rows, runtime: Runtime) -> np.ndarray:
    """A GEMM's share of its large-M efficiency with ``rows`` rows (tokens): M / (M + M_half),
    with M_half = ``runtime.gemm_half_rows`` (0: always saturated, the roofline). Tiles of
    64-128 rows are filled only by as many tokens, so few tokens per expert waste tensor cores
    (the half-saturation form is the fit's, its constant in docs/method/calibration.md)."""
    rows = np.maximum(f64(rows), 1e-9)
    return rows / (rows + runtime.gemm_half_rows)


@dataclass(frozen=True)
class Forward:
    """Forward passes on one layout (every field broadcasts): ``step`` prices one that carries
    ``decode`` tokens per DP replica (sequences reading a cache of ``decode_context`` tokens) and
    ``prefill`` prompt tokens per replica (of prompts of ``prefill_context`` tokens), on the
    fullest GPU of a stage:

      compute = layer share x [ (decode + prefill) x dense / TP / (peak_dense x e x s(M))
                                + (decode x attn_decode / a + prefill x attn_prefill) / TP / (peak_attn x e)
                                + (decode_group + prefill_group) x routed x imbalance / (TP DP)
                                  / (peak x e x x_e x s(M_e)) ]
      memory  = (forwards x weights read + decode x KV of one sequence) / (HBM x hbm_efficiency x stack)
      comm    = forwards x (all-to-alls + all-reduces of (decode + prefill) / forwards tokens
                            + without EP, each MoE layer's gather + reduce-scatter of the group's
                              tokens over the stage's tp x dp GPUs)
      overhead = forwards x layer share x layers x layer_seconds

    with e = MFU x stack (``hardware.stack_efficiency``), a = ``attention_efficiency`` (decode
    attention's score and value FLOPs: MLA's absorbed form is compute-bound), x_e =
    ``expert_efficiency``, s = ``saturation`` at M = (decode + prefill) / forwards rows of a
    dense GEMM and M_e = M_group k / (E touched) rows of each expert the step runs. With the neutral runtime (the pure
    roofline, ``--assume profile=bound``) and one peak this is (FLOPs / (peak x MFU), bytes /
    (HBM x efficiency)).

    ``*_group``: the tokens of the whole EP group (every replica's); ``forwards``: passes the
    tokens are split over (each reads the weights again); ``imbalance`` and ``touched``: the
    router's hottest-rank work and share of experts read for these tokens.
    """
    m: ModelNumbers
    ev: ModelResult
    layout: Layout
    hardware: Hardware
    runtime: Runtime
    memory: PerGpuMemory
    routing: object                     # RoutingTerms of the layout (destinations, peaks)
    nodes: Array

    def step(self, decode, decode_group, decode_context, prefill, prefill_group, prefill_context,
             imbalance, touched, forwards=1.0, decode_attention=None, prefill_attention=None):
        """(the Step, one all-to-all's scale-up seconds, its scale-out seconds)."""
        m, layout, hardware, runtime, rt = self.m, self.layout, self.hardware, self.runtime, self.routing
        tp, dp, pp, ep = f64(layout.tp), f64(layout.dp), f64(layout.pp), f64(layout.ep)
        gpus, stage = tp * dp * pp, tp * dp
        h, E = m.hidden_size, m.num_experts
        frac = lay.layer_fraction(m.num_layers, pp)
        routed_flops = 2.0 * m.params.active_by_component.get("routed_experts", 0)
        dense_flops = self.ev.decode.matmul - routed_flops
        if decode_attention is None:
            decode_attention = attention_flops(m, decode_context, prefill=False)
        if prefill_attention is None:
            prefill_attention = attention_flops(m, prefill_context, prefill=True)
        rows = (decode + prefill) / forwards                    # tokens of one GEMM on a replica
        # rows of an expert the step runs: its tokens over the experts touched (untouched cost nothing)
        expert_rows = (decode_group + prefill_group) / forwards * m.top_k / (max(E, 1) * np.maximum(touched, 1e-9))
        eff = runtime.mfu * hardware.stack_efficiency
        attention_eff = eff * runtime.attention_efficiency
        compute = frac * ((decode + prefill) * dense_flops / tp / (hardware.dense_peak * eff * saturation(rows, runtime))
                          + (decode * decode_attention / attention_eff + prefill * prefill_attention / eff)
                          / tp / hardware.attention_peak
                          + (decode_group + prefill_group) * routed_flops * imbalance / stage
                          / (hardware.peak_flops * eff * runtime.expert_efficiency * saturation(expert_rows, runtime)))

        w_gpu = self.memory.weights
        routed_read = w_gpu.get("routed_experts", 0.0) * touched
        share = lay.layer_fraction(m.num_layers, pp)
        # each decoding sequence reads its cache, and reads and writes back its recurrent state
        kv_read = decode * (kv_read_bytes_per_sequence(m, self.ev.precision.kv_bytes, decode_context, tp, share)
                            + 2.0 * state_bytes_per_sequence(m, self.ev.precision.kv_bytes, tp, share))
        hbm = hardware.hbm_bandwidth * runtime.hbm_efficiency * hardware.stack_efficiency
        weights_read = w_gpu.total - w_gpu.get("routed_experts", 0.0) + routed_read
        memory_seconds = (forwards * weights_read + kv_read) / hbm

        tokens = (decode + prefill) / forwards
        message = (f64(runtime.dispatch_bytes) + runtime.combine_bytes) * h * stage / ep
        moe_ep = (ep > 1) & (E > 0)
        tp_link = Link.where(tp <= layout.gpus_per_node, hardware.scale_up, hardware.scale_out)
        pp_link = Link.where(gpus <= layout.gpus_per_node, hardware.scale_up, hardware.scale_out)
        # a TP all-reduce ends every mixer and every dense FFN
        allreduces = frac * (m.num_mixer_layers + m.num_dense_ffn_layers)
        # a MoE layer without EP splits each expert over the whole stage (tp x dp; vLLM's default
        # with DP): the group's tokens are gathered onto every GPU and the outputs reduce-scattered
        # back, one all-reduce's volume of the group's tokens over the stage (1 replica: TP's)
        stage_link = Link.where(stage <= layout.gpus_per_node, hardware.scale_up, hardware.scale_out)
        group_tokens = (decode_group + prefill_group) / forwards
        moe_gather = np.where(moe_ep | (E == 0), 0.0,
                              alltoall.allreduce_seconds(group_tokens * h * runtime.activation_bytes, stage,
                                                         stage_link))
        # a decode-only step on the low-latency kernels: one copy per routed expert, the busiest
        # receiver getting its routed load's share (imbalance); otherwise the normal kernels
        low = np.asarray(runtime.low_latency_a2a, dtype=bool) & (np.asarray(prefill) == 0)
        copies_up, copies_out = alltoall.low_latency_copies(m.top_k, ep, layout.gpus_per_node)
        up = alltoall.alltoall_seconds(tokens / tp, np.where(low, copies_up * imbalance, rt.scaleup_peak), message,
                                       hardware.scale_up)
        out = alltoall.alltoall_seconds(tokens / tp, np.where(low, copies_out * imbalance, rt.remote_nodes_peak),
                                        message, hardware.scale_out)
        a2a = np.where(moe_ep, np.maximum(up, out), 0.0)
        ar = alltoall.allreduce_seconds(tokens * h * runtime.activation_bytes, tp, tp_link)
        pp_hop = (pp - 1) * alltoall.p2p_seconds(tokens * h * runtime.activation_bytes, pp_link)
        return Step(compute=compute, memory=memory_seconds,
                    communication=forwards * (frac * m.num_moe_layers * (a2a + moe_gather) + allreduces * ar),
                    pipeline=forwards * pp_hop, stages=pp, overlap=runtime.comm_overlap,
                    overhead=forwards * frac * m.num_layers * runtime.layer_seconds), up, out


def forward_model(m: ModelNumbers, ev: ModelResult, layout: Layout, hardware: Hardware, runtime: Runtime,
                  router: Router, cache: RoutingCache | None, limits: bool = True,
                  memory: PerGpuMemory | None = None):
    """The layout's ``Forward``, its per-GPU memory (``memory`` when the caller has it, of the
    same records and ``limits``) and the router's terms at the workload's batch (decode) and
    context (one prompt)."""
    B, L = f64(ev.workload.batch), f64(ev.workload.context)
    tp, dp, ep = f64(layout.tp), f64(layout.dp), f64(layout.ep)
    stage = tp * dp
    if memory is not None and limits and np.all(np.isnan(memory.max_batch)):
        raise ValueError("forward_model: the memory handed in was computed without limits")
    mem = memory if memory is not None else per_gpu_memory(m, ev, layout, hardware, runtime, limits)
    nodes = np.minimum(lay.ceil_div(stage, layout.gpus_per_node), ep)
    rt = router.terms(replace(layout, ep=ep), nodes, Workload(context=L, batch=B), runtime.load_fluctuation, cache)
    return Forward(m, ev, layout, hardware, runtime, mem, rt, nodes)


def prefill_step(fw: Forward, context, attention) -> Step:
    """One prompt of ``context`` tokens on an idle replica (``Served.prefill``, priced on first
    use, its router imbalance solved then too; a module-level function so that a ``Served``
    pickles)."""
    return fw.step(0.0, 0.0, context, context, context, context, fw.routing.prefill_imbalance, 1.0,
                   decode_attention=0.0, prefill_attention=attention)[0]


def serve(m: ModelNumbers, ev: ModelResult, layout: Layout, hardware: Hardware, runtime: Runtime,
          router: Router, cache: RoutingCache | None = None, limits: bool = True,
          memory: PerGpuMemory | None = None) -> Served:
    """Every deployment quantity for the broadcast of the records' fields: the decode step of
    the workload's ``batch`` sequences at ``context``, and the prefill of one prompt of
    ``context`` tokens on an idle replica (``Forward.step`` prices both).

    ``router`` sets the straggler rank, the experts a step touches and the all-to-all
    destinations (``engine.routing``: uniform or skewed, one interface); ``cache`` keeps what it
    solves for the caller (a fresh one when None). ``runtime.load_fluctuation`` takes the
    hottest EP rank of the step's actual tokens (decode: the batch; prefill: the prompt)
    instead of the rank with the highest expected load.
    """
    B, L = f64(ev.workload.batch), f64(ev.workload.context)
    tp, dp, pp, ep = f64(layout.tp), f64(layout.dp), f64(layout.pp), f64(layout.ep)
    gpus, stage = tp * dp * pp, tp * dp
    h, E = m.hidden_size, m.num_experts
    b = lay.ceil_div(B, dp)                            # sequences per DP replica
    etp = stage / ep
    fw = forward_model(m, ev, layout, hardware, runtime, router, cache, limits, memory)
    mem, rt, nodes = fw.memory, fw.routing, fw.nodes
    w_gpu = mem.weights
    decode, up, out = fw.step(b, B, L, 0.0, 0.0, L, rt.imbalance, rt.touched_fraction,
                              decode_attention=ev.decode.attention, prefill_attention=0.0)
    price_prefill = partial(prefill_step, fw, L, ev.prefill.attention)
    weights_read = w_gpu.total - w_gpu.get("routed_experts", 0.0) * (1 - rt.touched_fraction)
    message = (f64(runtime.dispatch_bytes) + runtime.combine_bytes) * h * etp
    moe_ep = (ep > 1) & (E > 0)

    def on_ep(x):
        return np.where(moe_ep, x, 0.0)

    copies = np.where(np.asarray(runtime.low_latency_a2a, dtype=bool),
                      sum(alltoall.low_latency_copies(m.top_k, ep, layout.gpus_per_node)),
                      rt.remote_nodes + rt.scaleup_transfers)
    a2a = AllToAll(remote_ranks=on_ep(rt.remote_ranks), remote_nodes=on_ep(rt.remote_nodes),
                   scaleup_transfers=on_ep(rt.scaleup_transfers), scaleup_peak=on_ep(rt.scaleup_peak),
                   remote_nodes_peak=on_ep(rt.remote_nodes_peak),
                   bytes_per_token_layer=on_ep(message * copies),
                   scaleup_seconds=on_ep(up), scaleout_seconds=on_ep(out))
    tokens_per_s = B / decode.seconds
    return Served(batch=B, gpus=gpus, sequences_per_replica=b, expert_tp=etp,
                  expert_slots_per_rank=lay.expert_slots_per_rank(E, layout.redundant_experts, ep),
                  ep_nodes=nodes + 0 * gpus, memory=mem, routing=rt, alltoall=a2a, decode=decode,
                  decode_weights_read=weights_read, price_prefill=price_prefill,
                  cost=Cost(usd_per_second=hardware.price_per_hour * gpus / 3600.0, tokens_per_s=tokens_per_s))
