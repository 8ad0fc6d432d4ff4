"""What the engine returns: records of arrays whose totals are properties, not stored copies
(computed once per record: a sweep block reads a step's seconds several times).

``ModelResult`` (``evaluate``): the model's own numbers for a workload. ``Served`` (``serve``):
a deployment's per-GPU memory, its decode and prefill steps, the all-to-all, the routing terms
and the cost. Each record's ``REPORT`` names the JSON key, the meaning and the conversion of
every value it reports: the JSON contract (``moecalc.report``) and its documentation
(``docs/json.md``) are produced from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property       # a record's totals are derived once, on first use
from typing import Callable

import numpy as np

from moecalc.engine.records import (Array, Breakdown, Out, Precision, Workload, as_bool, as_int, as_parts,
                                    nan_as_none)

BOUNDS = ("compute", "memory", "communication")
MAX_SEARCH = 2.0**24        # largest batch / context the fit search reports (16,777,216)


def bound_name(index) -> str:
    return BOUNDS[int(index)]


def within_search(v) -> int | None:
    """A fit-search result, or None where it reached the search's ceiling (over 16M)."""
    return int(v) if int(v) < MAX_SEARCH else None


@dataclass(frozen=True)
class Flops:
    """FLOPs per token of one phase: matmul (2 x active params, no input embedding) and attention."""
    matmul: Array
    attention: Array

    @property
    def per_token(self) -> Array:
        return self.matmul + self.attention


@dataclass(frozen=True)
class ModelResult:
    """The model-only numbers of ``evaluate``, at the workload and precision they were evaluated at."""
    workload: Workload
    precision: Precision
    weights: Breakdown                  # bytes by component
    kv_bytes_per_token: Array
    kv_cache_bytes: Array
    activation_workspace_bytes: Array
    runtime_overhead_bytes: Array
    prefill: Flops
    decode: Flops
    state_bytes_per_sequence: Array = 0.0   # recurrent state of one sequence (hybrids), any context

    @property
    def state_bytes(self) -> Array:
        return np.asarray(self.workload.batch, dtype=np.float64) * self.state_bytes_per_sequence

    @property
    def vram_floor_bytes(self) -> Array:
        """VRAM floor = weights + KV cache + recurrent state + activation workspace + runtime overhead."""
        return np.asarray(self.weights.total) + self.kv_cache_bytes + self.state_bytes \
            + self.activation_workspace_bytes + self.runtime_overhead_bytes

    REPORT = (
        Out("weights.bytes", "weights.total", "weight storage of the whole model, scales included"),
        Out("weights.bits_per_param.quantized", "precision.quantized_bits",
            "storage bits of a quantized component's matrix parameter, scales included"),
        Out("weights.bits_per_param.other", "precision.unquantized_bits", "storage bits of every other parameter"),
        Out("weights.by_component", "weights", "weight bytes by component", as_parts),
        Out("kv_cache.bytes_per_token", "kv_bytes_per_token", "bytes one token adds while inside every layer's span"),
        Out("kv_cache.bytes", "kv_cache_bytes", "bytes held for `batch` sequences of `context` tokens"),
        Out("kv_cache.state_bytes_per_sequence", "state_bytes_per_sequence",
            "recurrent state of one sequence (linear-attention and Mamba layers; 0 without): constant in context"),
        Out("kv_cache.state_bytes", "state_bytes", "... of `batch` sequences"),
        Out("flops.prefill_per_token", "prefill.per_token",
            "FLOPs per prompt token, averaged over a causal prompt of `context` tokens"),
        Out("flops.decode_per_token", "decode.per_token", "FLOPs of one new token at position `context`"),
        Out("flops.prefill.matmul", "prefill.matmul", "2 x (active params - input embedding)"),
        Out("flops.prefill.attention", "prefill.attention", "QK^T and AV, naive MLA form"),
        Out("flops.decode.matmul", "decode.matmul", "2 x (active params - input embedding)"),
        Out("flops.decode.attention", "decode.attention", "QK^T and AV over `context` keys, absorbed MLA form"),
        Out("memory.weights_bytes", "weights.total", "the VRAM floor's weights"),
        Out("memory.kv_cache_bytes", "kv_cache_bytes", "... its KV cache"),
        Out("memory.state_bytes", "state_bytes", "... its recurrent state (hybrids)"),
        Out("memory.activation_workspace_bytes", "activation_workspace_bytes",
            "... the peak activations of one forward step (an estimate)"),
        Out("memory.runtime_overhead_bytes", "runtime_overhead_bytes", "... the runtime overhead (assumption)"),
        Out("memory.vram_floor_bytes", "vram_floor_bytes",
            "weights + KV cache + recurrent state + workspace + overhead, on one device"),
    )


@dataclass(frozen=True)
class PerGpuMemory:
    """Bytes on the fullest GPU, by part, against its capacity."""
    weights: Breakdown
    kv_cache: Array
    activation_workspace: Array
    runtime_overhead: Array
    comm_buffer: Array
    capacity: Array
    usable: Array                       # capacity x gpu_memory_utilization: what fit is judged against
    recurrent_state: Array = 0.0        # the sequences' recurrent state on this GPU (hybrids)
    max_batch: Array = np.nan           # largest batch that fits at this context (NaN: not searched)
    max_context: Array = np.nan         # longest context that fits at this batch

    @cached_property
    def fixed(self) -> Array:
        """What does not grow with the workload: weights + runtime overhead + comm buffers."""
        return self.weights.total + self.runtime_overhead + self.comm_buffer

    @cached_property
    def total(self) -> Array:
        return self.fixed + self.kv_cache + self.recurrent_state + self.activation_workspace

    @cached_property
    def fits(self) -> Array:
        return self.total <= self.usable

    REPORT = (
        Out("memory.per_gpu_bytes", "total", "bytes on the fullest GPU (the parts under memory.per_gpu)"),
        Out("memory.capacity_per_gpu_bytes", "capacity", "its capacity (reported GiB where known, else the GB label)"),
        Out("memory.usable_per_gpu_bytes", "usable", "capacity x gpu_memory_utilization (vLLM's headroom)"),
        Out("memory.fits", "fits", "per_gpu_bytes <= usable_per_gpu_bytes", as_bool),
        Out("memory.max_batch", "max_batch", "largest batch that fits at this context", as_int),
        Out("memory.max_context", "max_context", "longest context that fits at this batch (null: over 16M)",
            within_search),
        Out("memory.per_gpu.weights_bytes", "weights.total", "weights on the fullest GPU"),
        Out("memory.per_gpu.weights_by_component", "weights", "... by component", as_parts),
        Out("memory.per_gpu.kv_cache_bytes", "kv_cache", "its share of the KV cache"),
        Out("memory.per_gpu.state_bytes", "recurrent_state", "its share of the recurrent state (hybrids)"),
        Out("memory.per_gpu.activation_workspace_bytes", "activation_workspace", "its activation workspace"),
        Out("memory.per_gpu.runtime_overhead_bytes", "runtime_overhead", "runtime overhead (assumption)"),
        Out("memory.per_gpu.comm_buffer_bytes", "comm_buffer", "communication buffers (assumption; 0 on one GPU)"),
    )


@dataclass(frozen=True)
class Step:
    """One forward step on the slowest GPU of a pipeline stage, run by ``stages`` stages in turn.

    roofline = max(compute, memory); with a share phi = ``overlap`` of the communication
    hidden behind compute (two micro-batches), a stage takes

        max(roofline, phi x communication) + (1 - phi) x communication + overhead

    (phi = 0: roofline + communication; phi = 1: max(roofline, communication)); ``overhead`` is
    the fixed cost of its layers' launches and synchronization. The step is stages x that +
    the pipeline's stage-to-stage transfers.
    """
    compute: Array
    memory: Array
    communication: Array
    pipeline: Array
    stages: Array
    overlap: Array
    overhead: Array = 0.0

    @cached_property
    def roofline(self) -> Array:
        return np.maximum(self.compute, self.memory)

    def _at(self, phi) -> Array:
        """The step at overlap ``phi``. Two cases skip passes over a sweep's grid with the same
        bits, times being finite and nonnegative: no overlap, max(roofline, 0) + 1 x
        communication = roofline + communication; one stage, 1 x (stage + overhead) + 0 =
        stage + overhead (when stages and pipeline add no axis)."""
        phi = np.asarray(phi, dtype=np.float64)
        comm = np.asarray(self.communication)
        if phi.ndim == 0 and phi == 0.0 and np.all((comm >= 0.0) & (comm < np.inf)):
            stage = self.roofline + comm
        else:
            stage = np.maximum(self.roofline, phi * comm) + (1 - phi) * comm
        one = stage + self.overhead
        if (np.all(np.asarray(self.stages) == 1) and not np.any(self.pipeline)
                and np.shape(one) == np.broadcast_shapes(np.shape(one), np.shape(self.stages), np.shape(self.pipeline))):
            return one
        return self.stages * one + self.pipeline

    @cached_property
    def no_overlap_seconds(self) -> Array:
        return self._at(0.0)

    @cached_property
    def overlap_seconds(self) -> Array:
        return self._at(1.0)

    @cached_property
    def seconds(self) -> Array:
        return self._at(self.overlap)

    @cached_property
    def bound(self) -> Array:
        """Index into BOUNDS of the largest term (ties go to the earlier one)."""
        return np.where((self.communication > self.compute) & (self.communication > self.memory), 2,
                        np.where(self.memory > self.compute, 1, 0))


@dataclass(frozen=True)
class AllToAll:
    """One MoE layer's dispatch + combine in a decode step, per token (0 without expert parallelism)."""
    remote_ranks: Array             # mean remote GPUs a token's hidden vector goes to
    remote_nodes: Array             # ... remote nodes (scale-out crossings)
    scaleup_transfers: Array        # ... scale-up hops (direct, or forwarded inside a remote node)
    scaleup_peak: Array             # the busiest GPU's receive count over scale-up ...
    remote_nodes_peak: Array        # ... and over scale-out
    bytes_per_token_layer: Array
    scaleup_seconds: Array          # per layer, decode
    scaleout_seconds: Array

    @property
    def seconds_per_layer(self) -> Array:
        """Scale-up and scale-out run concurrently: the slower sets the layer's time."""
        return np.maximum(self.scaleup_seconds, self.scaleout_seconds)


@dataclass(frozen=True)
class Cost:
    usd_per_second: Array           # price x GPUs (NaN: unpriced)
    tokens_per_s: Array             # output tokens/s of the deployment

    @cached_property
    def usd_per_hour(self) -> Array:
        return self.usd_per_second * 3600.0

    @cached_property
    def usd_per_million_output_tokens(self) -> Array:
        return self.usd_per_second / self.tokens_per_s * 1e6

    REPORT = (
        Out("cost.usd_per_million_output_tokens", "usd_per_million_output_tokens",
            "price x GPUs / output tokens per second, per million (null: no price)", nan_as_none),
        Out("cost.usd_per_hour", "usd_per_hour", "price x GPUs (null: no price)", nan_as_none),
    )


@dataclass(frozen=True)
class Served:
    """A model served on a layout of one GPU type: everything ``serve`` computes."""
    batch: Array
    gpus: Array
    sequences_per_replica: Array    # ceil(B / DP)
    expert_tp: Array                # TP x DP / EP
    expert_slots_per_rank: Array    # ceil((E + R) / EP)
    ep_nodes: Array                 # nodes one EP group spans
    memory: PerGpuMemory
    routing: "RoutingTerms"         # noqa: F821 (engine.routing.terms)
    alltoall: AllToAll
    decode: Step
    decode_weights_read: Array      # weight bytes a decode step reads on the slowest GPU
    price_prefill: Callable[[], Step] = field(repr=False, compare=False)     # engine.serve.prefill_step
    cost: Cost

    @cached_property
    def prefill(self) -> Step:
        """One prompt of ``context`` tokens on an idle replica, priced on first use (a sweep
        that ranks decode steps and has no TTFT limit never asks for it)."""
        return self.price_prefill()

    @cached_property
    def tpot(self) -> Array:
        return self.decode.seconds

    @cached_property
    def ttft(self) -> Array:
        return self.prefill.seconds

    @cached_property
    def tokens_per_s(self) -> Array:
        """batch / TPOT: the output rate the cost divides by (computed once, in ``serve``)."""
        return self.cost.tokens_per_s

    @cached_property
    def tokens_per_s_per_gpu(self) -> Array:
        return self.tokens_per_s / self.gpus

    REPORT = (
        Out("deployment.ep_nodes", "ep_nodes", "nodes one EP group spans", as_int),
        *(Out(o.key, "memory." + o.attr, o.doc, o.convert) for o in PerGpuMemory.REPORT),
        Out("memory.sequences_per_replica", "sequences_per_replica", "sequences per DP replica, ceil(batch / dp)",
            as_int),
        Out("comm.a2a_bytes_per_token_layer", "alltoall.bytes_per_token_layer",
            "one decode step, one MoE layer: dispatch + combine bytes a token sends"),
        Out("comm.a2a_seconds_per_layer", "alltoall.seconds_per_layer",
            "... and their time on the slowest GPU, no overlap"),
        Out("comm.a2a_scaleup_seconds_per_layer", "alltoall.scaleup_seconds", "... of it over the scale-up fabric"),
        Out("comm.a2a_scaleout_seconds_per_layer", "alltoall.scaleout_seconds", "... and over the scale-out network"),
        Out("comm.remote_ranks_per_token", "alltoall.remote_ranks", "remote GPUs a token's hidden vector goes to"),
        Out("comm.remote_nodes_per_token", "alltoall.remote_nodes", "remote nodes it crosses the network to"),
        Out("comm.scaleup_transfers_per_token", "alltoall.scaleup_transfers", "scale-up hops it takes"),
        Out("comm.decode_seconds_per_step", "decode.communication",
            "all-to-alls + TP all-reduces of a decode step (= perf.decode.comm_seconds)"),
        Out("comm.pp_seconds_per_step", "decode.pipeline", "pipeline stage-to-stage transfers of a decode step"),
        Out("perf.ttft_seconds", "ttft", "prefill of one prompt of `context` tokens on an idle replica"),
        Out("perf.tpot_seconds", "tpot", "one decode step of `batch` sequences (the assumption comm_overlap picks)"),
        Out("perf.tpot_no_overlap_seconds", "decode.no_overlap_seconds", "the step with communication added"),
        Out("perf.tpot_overlap_seconds", "decode.overlap_seconds", "the step with communication hidden"),
        Out("perf.tokens_per_s", "tokens_per_s", "output tokens per second of the deployment: batch / TPOT"),
        Out("perf.tokens_per_s_per_gpu", "tokens_per_s_per_gpu", "... per GPU"),
        Out("perf.bound", "decode.bound", "the decode step's largest term: compute, memory or communication",
            bound_name),
        Out("perf.decode.compute_seconds", "decode.compute", "decode FLOPs / achieved FLOP/s on the slowest GPU (each part at its dtype's peak x its efficiency)"),
        Out("perf.decode.memory_seconds", "decode.memory", "(weights read + KV cache) / (HBM x efficiency)"),
        Out("perf.decode.comm_seconds", "decode.communication", "all-to-alls + TP all-reduces"),
        Out("perf.decode.overhead_seconds", "decode.overhead", "fixed cost of the step's layers (layer_overhead_us; "
                                                               "0 on the bound)"),
        Out("perf.decode.weights_read_bytes", "decode_weights_read",
            "weights a decode step reads: all but the routed experts the batch leaves untouched"),
        Out("perf.decode.experts_touched_fraction", "routing.touched_fraction",
            "share of its expert slots the slowest GPU reads in a decode step"),
        Out("perf.prefill.compute_seconds", "prefill.compute", "prefill FLOPs of the prompt / (peak x MFU)"),
        Out("perf.prefill.memory_seconds", "prefill.memory", "every weight read once / (HBM x efficiency)"),
        Out("perf.prefill.comm_seconds", "prefill.communication", "all-to-alls + all-reduces of the prompt"),
        Out("perf.prefill.overhead_seconds", "prefill.overhead", "fixed cost of its layers"),
        Out("perf.prefill.expert_imbalance", "routing.prefill_imbalance",
            "hottest EP rank's routed work in prefill over an even share"),
        Out("perf.expert_imbalance", "routing.imbalance", "hottest EP rank's routed work in decode over an even share"),
        Out("perf.expert_slots_per_rank", "expert_slots_per_rank", "expert slots on the fullest EP rank", as_int),
        *(Out(o.key, "cost." + o.attr, o.doc, o.convert) for o in Cost.REPORT),
    )

    ROUTING_REPORT = (
        Out("routing.straggler", "routing.imbalance", "= perf.expert_imbalance"),
        Out("routing.straggler_prefill", "routing.prefill_imbalance", "= perf.prefill.expert_imbalance"),
        Out("routing.experts_touched_fraction", "routing.touched_fraction", "= perf.decode.experts_touched_fraction"),
        Out("routing.dropped_share", "routing.dropped_share", "share of assignments over capacity, dropped"),
        Out("routing.rerouted_share", "routing.rerouted_share", "... rerouted to the next-preferred expert"),
        Out("routing.a2a_peak_scaleup_transfers", "alltoall.scaleup_peak",
            "the busiest GPU's scale-up receives per token (what the all-to-all time follows)"),
        Out("routing.a2a_peak_remote_nodes", "alltoall.remote_nodes_peak", "... and its scale-out receives"),
    )
