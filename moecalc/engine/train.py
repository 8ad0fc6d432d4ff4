"""Training: FLOPs per token, and bytes per GPU of parameters, gradients, optimizer states and
activations over a TP x PP x DP layout with the routed experts over EP.

FLOPs (Megatron-LM's rule, 2 per multiply-accumulate, 3 passes: forward, data gradient, weight
gradient): per token = 3 x [2 (active - input embedding) + attention at the sequence length
(causal mean keys, MLA in its naive form) + the MTP modules' forward: each module's layer (its
attention, k routed and the shared experts, router), its 2h x h projection and its output head,
and one layer's attention]. The router's 3 x 2 h E per MoE layer is inside and stated apart.

Memory (Megatron-LM's rule, mixed precision): bf16 weights (2 bytes a parameter), fp32 gradients
(4), fp32 master weights and two Adam moments (12), sharded over the data-parallel group by the
ZeRO stage (``train_memory``). Non-expert parameters split over TP and the stages (the first stage
takes floor(L / PP) layers, the embedding too, the head goes to the last; both split over TP); routed experts over EP x PP, their shards
over the expert data-parallel group. Activations per layer and token: ``model.stored_per_token``
(Korthikanti et al. 2022), or each layer's input alone (2 bytes x h) under full recomputation; a
first stage holds min(PP, micro-batches) micro-batches in flight (1F1B).
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIMIZER_BYTES = 12.0          # fp32 master weights + Adam m and v
WEIGHT_BYTES, GRADIENT_BYTES = 2.0, 4.0   # bf16 weights, fp32 gradients


@dataclass(frozen=True)
class TrainFlops:
    main: float                 # forward of the main model, per token
    mtp: float                  # forward of the MTP modules, per token
    router: float               # the router's share of the training FLOPs (inside ``per_token``)
    routed_matmul: float        # the main model's routed expert GEMMs, 3 passes (inside ``per_token``)

    @property
    def per_token(self) -> float:
        return 3.0 * (self.main + self.mtp)


def train_flops(m, sequence: int, attention_prefill) -> TrainFlops:
    """``TrainFlops`` of model numbers ``m`` at ``sequence`` tokens; ``attention_prefill(L)`` is the
    attention FLOPs per token of a causal prompt of L (``evaluate.attention_flops``)."""
    p = m.params
    main = 2.0 * (p.active - p.embedding) + float(attention_prefill(sequence))
    mtp = 0.0
    if p.mtp:
        n = m.mtp_layers
        mb = p.mtp_by_component
        active_ffn = mb.get("shared_experts", 0) + mb.get("router", 0) + mb.get("dense_ffn", 0)
        if mb.get("routed_experts"):
            active_ffn += n * m.top_k * p.per_expert
        per_module_attention = float(attention_prefill(sequence)) / max(m.num_layers, 1)
        mtp = (2.0 * (mb.get("attention", 0) + active_ffn + mb.get("projection", 0) + mb.get("lm_head", 0))
               + n * per_module_attention)
    router = 3.0 * 2.0 * m.hidden_size * m.num_experts * m.num_moe_layers
    routed_matmul = 3.0 * 2.0 * p.active_by_component.get("routed_experts", 0)
    return TrainFlops(main=main, mtp=mtp, router=router, routed_matmul=routed_matmul)


@dataclass(frozen=True)
class TrainLayout:
    """GPUs = TP x CP x PP x DP, the routed experts over EP ranks of a stage; a step of
    ``micro_batches`` micro-batches of ``micro_batch`` sequences of ``sequence`` tokens per
    data-parallel replica; ``recompute`` "full" or "selective"; ``zero`` the ZeRO stage (0-3);
    ``vp`` virtual pipeline stages a GPU (interleaved 1F1B)."""
    tp: int
    pp: int
    dp: int
    ep: int
    sequence: int
    micro_batch: int
    micro_batches: int
    recompute: str = "selective"
    zero: int = 1
    cp: int = 1
    vp: int = 1

    @property
    def gpus(self) -> int:
        return self.tp * self.cp * self.pp * self.dp

    @property
    def tokens(self) -> int:
        """Tokens of one optimizer step: micro-batches x DP replicas x micro-batch x sequence."""
        return self.micro_batches * self.dp * self.micro_batch * self.sequence

    @property
    def bubble(self) -> float:
        """The pipeline's fill and drain as a share of a step's busy time: (PP - 1) / (VP x
        micro-batches) (1F1B, interleaved over VP virtual stages a GPU; Narayanan et al. 2021)."""
        return (self.pp - 1) / (self.vp * max(self.micro_batches, 1))


@dataclass(frozen=True)
class TrainCluster:
    """The GPU's peak (FLOP/s) at the training precision, its scale-up domain (GPUs a node) and
    the bytes/s per GPU of its scale-up fabric and scale-out network."""
    peak_flops: float
    gpus_per_node: int
    scale_up: float
    scale_out: float


@dataclass(frozen=True)
class TrainRuntime:
    """The step model's assumptions: the GEMM efficiency (1: the bound), the rows at which an
    expert GEMM reaches half of it (the serving calibration's), bytes of a dispatched value
    (bf16 2, fp8 1.5 with its scales) and the share of EP and DP communication hidden."""
    gemm_efficiency: float = 1.0
    gemm_half_rows: float = 0.0
    payload_bytes: float = 2.0
    overlap: float = 0.0


@dataclass(frozen=True)
class TrainMemory:
    """Bytes on the fullest GPU (a first pipeline stage)."""
    weights_and_grads: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights_and_grads + self.optimizer + self.activations


def train_memory(m, layout: TrainLayout) -> TrainMemory:
    """``TrainMemory`` of model numbers ``m`` on TP x CP x PP x DP GPUs with EP over the stage
    (module docstring). ``layout.zero`` shards over the data-parallel group (DP x CP, which hold the same
    weights): 0 nothing (18 bytes a parameter), 1 the optimizer states (6 + 12/DP: Megatron's
    distributed optimizer), 2 and the fp32 gradients (2 + 16/DP), 3 and the bf16 weights (18/DP);
    routed experts shard over their expert data-parallel group TP DP CP / EP. Context
    parallelism splits each sequence's activations over CP. An interleaved schedule of VP virtual
    stages a GPU holds (1 + (PP - 1) / (PP VP)) x PP micro-batches' activations of its layers
    (Narayanan et al. 2021), against PP without."""
    tp, pp, dp, ep, cp, vp, zero = layout.tp, layout.pp, layout.dp, layout.ep, layout.cp, layout.vp, layout.zero
    micro_batch, micro_batches, sequence = layout.micro_batch, layout.micro_batches, layout.sequence
    p = m.params.by_component
    routed = p.get("routed_experts", 0)
    embedding = p.get("embedding", 0)
    body = sum(p.values()) - routed - embedding - p.get("lm_head", 0)
    head = p.get("lm_head", 0) if pp == 1 else 0      # the last stage's head, on the first when PP is 1
    # the first stage, which holds the most micro-batches in flight, takes the smaller share when
    # the layers do not divide evenly (Llama 3 405B's 126 over 16: 7 on the first, 8 on most)
    layers = m.num_layers // pp
    share = layers / m.num_layers
    dense_gpu = body * share / tp + (embedding + head) / tp
    expert_gpu = routed * share / ep
    group = dp * cp
    expert_group = max(tp * dp * cp // max(ep, 1), 1)

    def sharded(n_dense, n_expert, from_stage):
        return (n_dense / group + n_expert / expert_group) if zero >= from_stage else n_dense + n_expert

    weights = WEIGHT_BYTES * sharded(dense_gpu, expert_gpu, 3) + GRADIENT_BYTES * sharded(dense_gpu, expert_gpu, 2)
    optimizer = OPTIMIZER_BYTES * sharded(dense_gpu, expert_gpu, 1)
    stored = m.stored_activation or 4 * m.hidden_size + m.widest_activation   # summary specs: the widest
    per_token_layer = 2.0 * (m.hidden_size if layout.recompute == "full" else stored)
    interleaved = 1.0 + (pp - 1) / (pp * vp) if vp > 1 else 1.0
    in_flight = min(pp, micro_batches) * interleaved * micro_batch * sequence
    activations = layers * in_flight * per_token_layer / (tp * cp)
    return TrainMemory(weights_and_grads=weights, optimizer=optimizer, activations=activations)


@dataclass(frozen=True)
class TrainStep:
    """Seconds of one optimizer step on a GPU, by part (``train_step``)."""
    compute: float              # the GEMMs and attention of forward, backward (and recomputation)
    expert_alltoall: float      # EP dispatch and combine, forward and backward, not hidden
    tp_allreduce: float         # TP all-reduces, forward and backward
    data_parallel: float        # gradient reduce-scatter and parameter all-gather, its exposed share
    bubble: float               # the pipeline's fill and drain (1F1B)

    @property
    def total(self) -> float:
        return self.compute + self.expert_alltoall + self.tp_allreduce + self.data_parallel + self.bubble


def train_step(m, flops: TrainFlops, layout: TrainLayout, cluster: TrainCluster, runtime: TrainRuntime) -> TrainStep:
    """One optimizer step of ``layout.tokens`` on ``layout.gpus`` (per GPU, seconds).

    compute = tokens (F_dense + F_routed / sat) r / (N P eta), with F the training FLOPs per token
    (3 passes; F_routed the routed experts' matrix multiplies, ``flops.routed_matmul``), r = 4/3 under full recomputation (a second forward) else 1, eta the GEMM
    efficiency of training and sat = n / (n + n_half) the saturation of an expert GEMM of
    n = EP b s k / E rows (the serving model's half-saturation rows).
    all-to-all = (1 - overlap) x 4 passes (dispatch and combine, forward and backward) x MoE layers
    / PP x micro-batches x (b s / (TP CP)) tokens x k copies x h x payload bytes x (1 - 1/EP), over
    NVLink for the ranks in the node and the NIC for the (1 - G/EP) outside, the slower of the two.
    TP all-reduce = 2 (forward and backward) x (mixers + dense FFNs + MoE layers without EP) / PP
    per micro-batch (the serving count) of b s h / CP x 2 bytes, ring 2 (TP - 1) / TP over NVLink
    (the NIC when TP spans nodes), never hidden.
    data parallel = one micro-batch's share (the last backward's) of a reduce-scatter of fp32
    gradients and an all-gather of bf16 weights over the GPUs that hold the same weights (DP x CP),
    6 bytes x parameters on the GPU x (DP CP - 1) / (DP CP).
    bubble = (PP - 1) / (VP x micro-batches) of the rest (``TrainLayout.bubble``).
    Context parallelism's own exchange of keys and values (ring attention) is not counted.
    """
    tp, pp, dp, ep, cp = layout.tp, layout.pp, layout.dp, layout.ep, layout.cp
    micro_batches, overlap = layout.micro_batches, runtime.overlap
    scale_up, scale_out, gpus_per_node = cluster.scale_up, cluster.scale_out, cluster.gpus_per_node
    b, s, E, k, h = layout.micro_batch, layout.sequence, max(m.num_experts, 1), m.top_k, m.hidden_size
    r = 4.0 / 3.0 if layout.recompute == "full" else 1.0
    rows = ep * b * s * k / E
    sat = rows / (rows + runtime.gemm_half_rows) if m.num_experts else 1.0
    compute = (layout.tokens * (flops.per_token - flops.routed_matmul + flops.routed_matmul / sat) * r
               / (layout.gpus * cluster.peak_flops * runtime.gemm_efficiency))
    a2a = 0.0
    if m.num_experts and ep > 1:
        sent = 4.0 * m.num_moe_layers / pp * micro_batches * (b * s / (tp * cp)) * k * h * runtime.payload_bytes * (1 - 1 / ep)
        outside = max(0.0, 1 - gpus_per_node / ep)
        a2a = (1 - overlap) * max(sent * (1 - outside) / scale_up, sent * outside / scale_out)
    tp_ar = 0.0
    if tp > 1:
        count = 2.0 * (m.num_mixer_layers + m.num_dense_ffn_layers + (m.num_moe_layers if ep == 1 else 0)) / pp
        tp_link = scale_up if tp <= gpus_per_node else scale_out
        tp_ar = count * micro_batches * 2 * (tp - 1) / tp * b * s / cp * h * 2.0 / tp_link
    p = m.params
    routed = p.by_component.get("routed_experts", 0)
    held = (p.total - routed) / (tp * pp) + routed / (ep * pp)
    link = scale_up if tp * cp * dp <= gpus_per_node else scale_out
    group = dp * cp
    dp_comm = (1 - overlap) * 6.0 * held * (group - 1) / group / link / max(micro_batches, 1)
    busy = compute + a2a + tp_ar
    return TrainStep(compute=compute, expert_alltoall=a2a, tp_allreduce=tp_ar, data_parallel=dp_comm,
                     bubble=busy * layout.bubble)
