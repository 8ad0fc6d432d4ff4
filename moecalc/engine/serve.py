"""A model served on a parallel layout of one GPU type: per-GPU memory, step time, cost.

``serve`` takes the model's numbers, the workload result of ``evaluate`` and broadcastable
arrays for the layout, the hardware and the assumptions; ``estimate`` calls it with scalars,
sweeps with grids. Units: bytes, FLOPs, seconds, bytes/s, FLOP/s, USD.

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

import numpy as np

from moecalc.engine import alltoall, kv, layout, memory
from moecalc.engine.arch import FULL_SPAN
from moecalc.engine.fit import largest_fitting
from moecalc.engine.model import ModelNumbers

BOUNDS = ("compute", "memory", "communication")
MAX_SEARCH = 2.0**24        # largest batch / context the fit search reports (16,777,216)


def serve(m: ModelNumbers, r: dict, *, context, batch, kv_bytes, tp, dp, pp, ep, redundant_experts,
          gpus_per_node, max_nodes, memory_capacity, hbm_bandwidth, peak_flops,
          scaleup_bandwidth, scaleup_latency, scaleout_bandwidth, scaleout_latency, price_per_hour,
          dispatch_bytes, combine_bytes, prefill_chunk_tokens, activation_bytes, logits_bytes,
          runtime_overhead_bytes, comm_buffer_bytes, mfu, hbm_efficiency, scaleup_efficiency,
          scaleout_efficiency, comm_overlap, load_fluctuation=False, limits: bool = True, routing=None):
    """Every deployment quantity for the broadcast of all arguments after ``r``.

    ``limits=False`` skips the largest-batch and longest-context search (NaN instead), which a
    sweep computes only for the rows it reports. ``routing`` (``engine.routing.RoutingInputs``;
    None: uniform) sets the router: the straggler rank, the experts a step touches and the
    all-to-all destinations follow it. ``load_fluctuation`` (one value per
    call) takes the hottest EP rank of the step's actual tokens (decode: the batch; prefill: the
    prompt) instead of the rank with the highest expected load.
    """
    f64 = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    B, L = f64(batch), f64(context)
    tp, dp, pp, ep = f64(tp), f64(dp), f64(pp), f64(ep)
    gpus = tp * dp * pp
    stage = tp * dp
    h, E, k = m.hidden_size, m.num_experts, m.top_k
    b = layout.ceil_div(B, dp)                            # sequences per DP replica
    frac = layout.layer_fraction(m.num_layers, pp)
    etp = stage / ep

    # ---- memory on the fullest GPU
    w_gpu = layout.weight_bytes_per_gpu(r["weights_bytes_by_component"], E, tp, dp, ep, pp,
                                        redundant_experts, m.num_layers)
    weights_gpu = sum(w_gpu.values())
    shard = layout.kv_shard_fraction(m.is_mla, m.num_kv_heads, tp) * frac

    def kv_per_seq(ctx):
        return kv.kv_cache_bytes(m.kv_elements, kv_bytes, ctx, 1, m.layer_span, m.layer_count) * shard

    def workspace(ctx, seqs):
        return memory.activation_workspace_bytes(ctx, seqs, prefill_chunk_tokens, activation_bytes, h,
                                                 m.widest_intermediate, m.vocab_size, logits_bytes)

    buffers = np.where(gpus > 1, comm_buffer_bytes, 0.0)
    fixed = weights_gpu + runtime_overhead_bytes + buffers
    kv_gpu = b * kv_per_seq(L)
    act_gpu = workspace(L, b)
    per_gpu = fixed + kv_gpu + act_gpu
    fits = per_gpu <= memory_capacity

    if limits:
        seqs = largest_fitting(lambda x: fixed + x * kv_per_seq(L) + workspace(L, x),
                               [f64(prefill_chunk_tokens) / L], memory_capacity, upper=MAX_SEARCH)
        max_batch = np.floor(seqs) * dp
        spans = [s for s in np.unique(m.layer_span) if s < FULL_SPAN]
        max_context = np.floor(largest_fitting(lambda x: fixed + b * kv_per_seq(x) + workspace(x, b),
                                               spans + [f64(prefill_chunk_tokens) / b], memory_capacity,
                                               upper=MAX_SEARCH))
    else:
        max_batch = max_context = np.nan

    # ---- FLOPs per token: routed experts apart, as they spread over the EP group
    routed_flops = 2.0 * m.params.active_by_component.get("routed_experts", 0)
    dense_flops = r["decode_matmul_flops"] - routed_flops

    def compute_seconds(tokens_replica, tokens_group, attention_flops, imbalance):
        flops = frac * (tokens_replica * (dense_flops + attention_flops) / tp
                        + tokens_group * routed_flops * imbalance / stage)
        return flops / (peak_flops * mfu)

    # ---- communication of one stage
    nodes = np.minimum(layout.ceil_div(stage, gpus_per_node), ep)
    rt = _routing_terms(m, routing, ep, nodes, B, L, redundant_experts, max_nodes, bool(load_fluctuation))
    touched = rt["touched_fraction"]
    remote_ranks, remote_nodes, up_transfers = rt["remote_ranks"], rt["remote_nodes"], rt["scaleup_transfers"]
    message = (f64(dispatch_bytes) + combine_bytes) * h * etp
    moe_ep = (ep > 1) & (E > 0)
    tp_in_domain = tp <= gpus_per_node
    tp_bw = np.where(tp_in_domain, scaleup_bandwidth, scaleout_bandwidth)
    tp_eff = np.where(tp_in_domain, scaleup_efficiency, scaleout_efficiency)
    tp_lat = np.where(tp_in_domain, scaleup_latency, scaleout_latency)
    one_domain = gpus <= gpus_per_node
    pp_bw = np.where(one_domain, scaleup_bandwidth, scaleout_bandwidth)
    pp_eff = np.where(one_domain, scaleup_efficiency, scaleout_efficiency)
    pp_lat = np.where(one_domain, scaleup_latency, scaleout_latency)
    allreduces = frac * (m.num_layers + (m.num_layers - m.num_moe_layers)
                         + np.where(moe_ep, 0, m.num_moe_layers))
    moe_layers = frac * m.num_moe_layers

    def comm_seconds(tokens_replica):
        per_gpu_tokens = tokens_replica / tp
        a2a_up = alltoall.alltoall_seconds(per_gpu_tokens, rt["scaleup_transfers_peak"], message, scaleup_bandwidth,
                                           scaleup_efficiency, scaleup_latency)
        a2a_out = alltoall.alltoall_seconds(per_gpu_tokens, rt["remote_nodes_peak"], message, scaleout_bandwidth,
                                            scaleout_efficiency, scaleout_latency)
        a2a = np.where(moe_ep, np.maximum(a2a_up, a2a_out), 0.0)
        ar = alltoall.allreduce_seconds(tokens_replica * h * activation_bytes, tp, tp_bw, tp_eff, tp_lat)
        pp_hop = (pp - 1) * alltoall.p2p_seconds(tokens_replica * h * activation_bytes, pp_bw, pp_eff, pp_lat)
        return a2a, moe_layers * a2a + allreduces * ar, pp_hop, a2a_up, a2a_out

    def steps(compute, mem, comm):
        """(step without overlap, with overlap, the one the assumption picks)."""
        roof = np.maximum(compute, mem)
        apart, hidden = roof + comm, np.maximum(roof, comm)
        return apart, hidden, (np.where(comm_overlap, hidden, apart) if np.ndim(comm_overlap)
                               else (hidden if comm_overlap else apart))

    # ---- decode step
    weights_read = weights_gpu - w_gpu.get("routed_experts", 0.0) * (1 - touched)
    t_compute = compute_seconds(b, B, r["decode_attention_flops"], rt["imbalance"])
    t_memory = (weights_read + kv_gpu) / (hbm_bandwidth * hbm_efficiency)
    a2a_layer, t_comm, t_pp, a2a_up, a2a_out = comm_seconds(b)
    apart, hidden, chosen = steps(t_compute, t_memory, t_comm)
    tpot = pp * chosen + t_pp
    # index into BOUNDS of the largest term (ties go to the earlier one, as argmax would)
    bound = np.where((t_comm > t_compute) & (t_comm > t_memory), 2, np.where(t_memory > t_compute, 1, 0))

    # ---- prefill of one prompt of `context` tokens on an idle replica
    p_compute = compute_seconds(L, L, r["prefill_attention_flops"], rt["imbalance_prefill"])
    p_memory = weights_gpu / (hbm_bandwidth * hbm_efficiency)
    _, p_comm, p_pp, _, _ = comm_seconds(L)
    ttft = pp * steps(p_compute, p_memory, p_comm)[2] + p_pp

    tokens_per_s = B / tpot
    usd_per_s = price_per_hour * gpus / 3600.0
    return {
        "gpus": gpus, "sequences_per_replica": b, "expert_tensor_parallel": etp,
        "weights_bytes_per_gpu_by_component": w_gpu,
        "weights_bytes_per_gpu": weights_gpu, "kv_cache_bytes_per_gpu": kv_gpu,
        "activation_bytes_per_gpu": act_gpu, "runtime_overhead_bytes": f64(runtime_overhead_bytes) + 0 * gpus,
        "comm_buffer_bytes": buffers, "per_gpu_bytes": per_gpu, "capacity_bytes": f64(memory_capacity) + 0 * gpus,
        "fits": fits, "max_batch": max_batch, "max_context": max_context,
        "expert_slots_per_rank": layout.expert_slots_per_rank(E, redundant_experts, ep),
        "ep_nodes": nodes + 0 * gpus,
        "expert_imbalance": rt["imbalance"], "prefill_expert_imbalance": rt["imbalance_prefill"],
        "experts_touched_fraction": touched,
        "dropped_share": rt["dropped_share"], "rerouted_share": rt["rerouted_share"],
        "a2a_remote_ranks_per_token": np.where(moe_ep, remote_ranks, 0.0),
        "a2a_remote_nodes_per_token": np.where(moe_ep, remote_nodes, 0.0),
        "a2a_scaleup_transfers_per_token": np.where(moe_ep, up_transfers, 0.0),
        "a2a_scaleup_peak": np.where(moe_ep, rt["scaleup_transfers_peak"], 0.0),
        "a2a_remote_nodes_peak": np.where(moe_ep, rt["remote_nodes_peak"], 0.0),
        "a2a_bytes_per_token_layer": np.where(moe_ep, message * (remote_nodes + up_transfers), 0.0),
        "a2a_seconds_per_layer": a2a_layer,
        "a2a_scaleup_seconds_per_layer": np.where(moe_ep, a2a_up, 0.0),
        "a2a_scaleout_seconds_per_layer": np.where(moe_ep, a2a_out, 0.0),
        "decode_compute_seconds": t_compute, "decode_memory_seconds": t_memory,
        "decode_comm_seconds": t_comm, "pp_seconds": t_pp,
        "decode_weights_read_bytes": weights_read,
        "tpot_seconds": tpot,
        "tpot_no_overlap_seconds": pp * apart + t_pp,
        "tpot_overlap_seconds": pp * hidden + t_pp,
        "bound": bound,
        "prefill_compute_seconds": p_compute, "prefill_memory_seconds": p_memory, "prefill_comm_seconds": p_comm,
        "ttft_seconds": ttft,
        "tokens_per_s": tokens_per_s, "tokens_per_s_per_gpu": tokens_per_s / gpus,
        "usd_per_hour": usd_per_s * 3600.0,
        "usd_per_million_output_tokens": usd_per_s / tokens_per_s * 1e6,
    }


def _routing_terms(m: ModelNumbers, routing, ep, nodes, batch, prompt, redundant, max_nodes, fluctuation) -> dict:
    """Straggler, experts touched and all-to-all destinations: the uniform closed forms, or the
    router's (``engine.routing.layout_factors``: a skewed router, or any router when the batch's
    fluctuation is asked for or redundant slots split experts: a replica takes an even share of
    its expert's tokens, as DeepSeek's EPLB assumes). A node limit under a skewed router scales
    its destinations by the limit's effect on a uniform one (an approximation); so does the
    model's group limit."""
    E, k = m.num_experts, m.top_k
    groups = (m.expert_groups, m.groups_per_token)
    ranks, remote_nodes, up = alltoall.destinations(E, k, ep, nodes, max_nodes, *groups)
    if E == 0 or (routing is None and not fluctuation and not np.any(redundant)):
        imbalance = layout.expert_imbalance(E, redundant, ep)
        return {"imbalance": imbalance, "imbalance_prefill": imbalance,
                "touched_fraction": layout.experts_touched_fraction(E, k, batch),
                "remote_ranks": ranks, "remote_nodes": remote_nodes, "scaleup_transfers": up,
                "scaleup_transfers_peak": up, "remote_nodes_peak": remote_nodes,
                "dropped_share": 0.0, "rerouted_share": 0.0}
    from moecalc.engine.routing import layout_factors, uniform_inputs

    f = dict(layout_factors(routing or uniform_inputs(E, k), ep, nodes, batch, redundant, fluctuation, prompt,
                            groups if groups[0] > 1 else (0, 0)))
    if routing is None:              # uniform: the closed-form destinations (group and node limits exact)
        f.update(remote_ranks=ranks, remote_nodes=remote_nodes, scaleup_transfers=up, scaleup_transfers_peak=up,
                 remote_nodes_peak=remote_nodes)
        return f
    free = alltoall.destinations(E, k, ep, nodes, np.inf)
    ratio = [np.where(b > 0, a / np.where(b > 0, b, 1.0), 1.0) for a, b in zip((ranks, remote_nodes, up), free)]
    f["remote_ranks"] = f["remote_ranks"] * ratio[0]
    f["remote_nodes"] = f["remote_nodes"] * ratio[1]
    f["remote_nodes_peak"] = f["remote_nodes_peak"] * ratio[1]
    f["scaleup_transfers"] = f["scaleup_transfers"] * ratio[2]
    f["scaleup_transfers_peak"] = f["scaleup_transfers_peak"] * ratio[2]
    return f
