"""The YAML model spec, validated with pydantic (unknown keys rejected).

Two forms:
- ``architecture`` (default): every dimension the numbers depend on; counts are derived.
- ``summary``: stated totals for a model whose architecture is not public, used as given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from pydantic import Field, PrivateAttr, field_validator, model_validator

from moecalc.spec.types import Amount, NonNeg, Pos, PosFloat, SpecProblem, Strict
from moecalc.engine.model import ModelNumbers, Summary, from_schedule, from_summary
from moecalc.engine.schedule import FULL_SPAN, GQA, MLA, QUANTIZABLE, DenseFFN, Layer, MoE, Recurrent, Schedule
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES

LayerType = Literal["full", "sliding", "chunked", "linear", "none"]
FFNType = Literal["dense", "moe", "none"]


class AttentionSpec(Strict):
    type: Literal["mha", "gqa", "mqa", "mla"] = Field(
        description="mha: kv heads = heads; mqa: one kv head; gqa: num_kv_heads; mla: DeepSeek latent")
    num_heads: Pos
    num_kv_heads: Optional[Pos] = Field(None, description="GQA only; MHA implies num_heads, MQA 1")
    head_dim: Optional[Pos] = Field(None, description="q/k head dim; default hidden_size / num_heads")
    v_head_dim: Optional[Pos] = Field(None, description="value head dim; default head_dim (required for MLA)")
    q_lora_rank: NonNeg = Field(0, description="MLA query compression rank; 0 = none (DeepSeek-V2-Lite)")
    kv_lora_rank: Optional[Pos] = Field(None, description="MLA latent dim, cached per token per layer")
    qk_nope_head_dim: Optional[Pos] = None
    qk_rope_head_dim: Optional[Pos] = Field(None, description="MLA decoupled RoPE key dim, cached")
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: Literal["none", "per_head", "full"] = Field(
        "none", description="per_head: one d-wide norm for q and for k (Qwen3); full: n*d wide (OLMoE)")
    sinks: bool = Field(False, description="one learned sink logit per head (gpt-oss)")
    output_gate: bool = Field(False, description="q_proj also produces a sigmoid gate per head (Qwen3-Next): "
                                                 "h n d more weights")
    values_from_keys: bool = Field(False, description="no v_proj: values come from the key projection, and the "
                                                      "cache holds the keys once (Gemma 4 full layers)")
    index_n_heads: NonNeg = Field(0, description="MLA with DeepSeek Sparse Attention: indexer heads (0: none)")
    index_head_dim: NonNeg = Field(0, description="... its key dim, cached per token beside the latent")
    index_topk: NonNeg = Field(0, description="... the tokens each query attends (attention FLOPs capped there)")
    sliding_window: Optional[Pos] = Field(None, description="W: sliding layers attend to and hold at most W tokens")
    chunk_size: Optional[Pos] = Field(None, description="C: chunked layers attend within chunks of C tokens (Llama 4)")
    layer_types: Optional[list[LayerType]] = Field(
        None, min_length=1,
        description="per-layer attention, repeated cyclically over the layers; default all full")

    @model_validator(mode="after")
    def _check(self):
        if self.type == "mla":
            for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
                if getattr(self, name) is None:
                    raise SpecProblem(name, f"MLA needs {name}")
            if self.num_kv_heads is not None:
                raise SpecProblem("num_kv_heads", "does not apply to MLA (its cache is one latent per layer)")
        else:
            for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "index_n_heads", "index_head_dim",
                         "index_topk"):
                if getattr(self, name):
                    raise SpecProblem(name, "applies only to type mla")
            kv = self.kv_heads
            if kv is None:
                raise SpecProblem("num_kv_heads", "gqa needs num_kv_heads")
            if self.type == "mha" and kv != self.num_heads:
                raise SpecProblem("num_kv_heads", f"mha needs num_kv_heads == num_heads ({self.num_heads}), got {kv}")
            if self.type == "mqa" and kv != 1:
                raise SpecProblem("num_kv_heads", f"mqa needs num_kv_heads == 1, got {kv}")
            if self.num_heads % kv:
                raise SpecProblem("num_kv_heads", f"num_heads ({self.num_heads}) is not divisible by num_kv_heads ({kv})")
        types = set(self.layer_types or ())
        if "sliding" in types and self.sliding_window is None:
            raise SpecProblem("sliding_window", "layer_types has 'sliding' layers but sliding_window is not set")
        if "chunked" in types and self.chunk_size is None:
            raise SpecProblem("chunk_size", "layer_types has 'chunked' layers but chunk_size is not set")
        return self

    @property
    def kv_heads(self) -> Optional[int]:
        return {"mha": self.num_heads, "mqa": 1}.get(self.type, self.num_kv_heads)

    def check_head_dim(self, hidden_size: int) -> None:
        """GQA-family attention without head_dim needs hidden_size divisible by num_heads."""
        if self.type != "mla" and self.head_dim is None and hidden_size % self.num_heads:
            raise SpecProblem("attention.head_dim", f"needed: hidden_size ({hidden_size}) is not "
                                                   f"divisible by num_heads ({self.num_heads})")

    def dims(self, hidden_size: int) -> tuple[int, int]:
        """(q/k head dim, v head dim); head_dim defaults to hidden_size / num_heads."""
        head_dim = self.head_dim or hidden_size // self.num_heads
        return head_dim, self.v_head_dim or head_dim

    def block(self, hidden_size: int) -> GQA | MLA:
        """The engine's attention block for this spec."""
        if self.type == "mla":
            return MLA(num_heads=self.num_heads, q_lora_rank=self.q_lora_rank, kv_lora_rank=self.kv_lora_rank,
                       qk_nope_head_dim=self.qk_nope_head_dim, qk_rope_head_dim=self.qk_rope_head_dim,
                       v_head_dim=self.v_head_dim, qkv_bias=self.qkv_bias, o_bias=self.o_bias,
                       index_n_heads=self.index_n_heads, index_head_dim=self.index_head_dim,
                       index_topk=self.index_topk)
        head_dim, v_head_dim = self.dims(hidden_size)
        return GQA(num_heads=self.num_heads, num_kv_heads=self.kv_heads, head_dim=head_dim, v_head_dim=v_head_dim,
                   qkv_bias=self.qkv_bias, o_bias=self.o_bias, qk_norm=self.qk_norm, sinks=self.sinks,
                   output_gate=self.output_gate, values_from_keys=self.values_from_keys, q_lora_rank=self.q_lora_rank)

    def spans(self, num_layers: int) -> tuple[np.ndarray, np.ndarray]:
        """Per layer: tokens attended/held (W, C or unbounded), and whether it is a chunk."""
        types = np.resize(np.array(self.layer_types or ["full"]), num_layers)
        span = np.full(num_layers, FULL_SPAN)
        span[types == "sliding"] = self.sliding_window or 0
        span[types == "chunked"] = self.chunk_size or 0
        return span, types == "chunked"


class MixerSpec(Strict):
    """The recurrent mixer of a hybrid's ``linear`` layers (formulas: ``moecalc.spec.mixers``)."""
    type: Literal["gated_deltanet", "kda", "lightning", "mamba2", "mamba1"]
    num_heads: Optional[Pos] = Field(None, description="kda, lightning, mamba2: heads")
    head_dim: Optional[Pos] = Field(None, description="kda, lightning, mamba2: head dim")
    num_k_heads: Optional[Pos] = Field(None, description="gated_deltanet: key heads")
    num_v_heads: Optional[Pos] = Field(None, description="gated_deltanet: value heads")
    k_head_dim: Optional[Pos] = None
    v_head_dim: Optional[Pos] = None
    d_state: Optional[Pos] = Field(None, description="mamba: state size N")
    n_groups: Pos = Field(1, description="mamba2: B/C groups")
    d_inner: Optional[Pos] = Field(None, description="mamba1: inner width")
    dt_rank: Optional[Pos] = Field(None, description="mamba1: dt projection rank")
    conv_kernel: NonNeg = Field(4, description="causal depthwise convolution width (0: none)")
    conv_bias: bool = True
    proj_bias: bool = False
    inner_norms: bool = Field(False, description="mamba1: RMSNorms on dt, B and C (Jamba)")

    @model_validator(mode="after")
    def _check(self):
        need = {"gated_deltanet": ("num_k_heads", "num_v_heads", "k_head_dim", "v_head_dim"),
                "kda": ("num_heads", "head_dim"), "lightning": ("num_heads", "head_dim"),
                "mamba2": ("num_heads", "head_dim", "d_state"), "mamba1": ("d_inner", "d_state", "dt_rank")}
        for name in need[self.type]:
            if getattr(self, name) is None:
                raise SpecProblem(name, f"{self.type} needs {name}")
        return self

    def block(self, h: int) -> Recurrent:
        from moecalc.spec import mixers

        if self.type == "gated_deltanet":
            return mixers.gated_deltanet(h, self.num_k_heads, self.num_v_heads, self.k_head_dim, self.v_head_dim,
                                         self.conv_kernel)
        if self.type == "kda":
            return mixers.kda(h, self.num_heads, self.head_dim, self.conv_kernel)
        if self.type == "lightning":
            return mixers.lightning(h, self.num_heads, self.head_dim)
        if self.type == "mamba2":
            return mixers.mamba2(h, self.num_heads, self.head_dim, self.d_state, self.n_groups, self.conv_kernel,
                                 self.conv_bias, self.proj_bias)
        return mixers.mamba1(h, self.d_inner, self.d_state, self.dt_rank, self.conv_kernel, self.conv_bias,
                             self.proj_bias, self.inner_norms)


class FFNSpec(Strict):
    intermediate_size: Pos = Field(description="dense FFN width I")
    gated: bool = Field(True, description="gated (SwiGLU: 3 matrices) or not (2 matrices)")
    bias: bool = False


class MoESpec(Strict):
    num_experts: Pos = Field(description="routed experts per MoE layer, E")
    top_k: Pos = Field(description="routed experts per token, k")
    expert_intermediate_size: Pos = Field(description="width of one routed expert, I_e")
    gated: bool = True
    expert_bias: bool = Field(False, description="biases on expert matrices (gpt-oss)")
    num_shared_experts: NonNeg = 0
    shared_expert_intermediate_size: Optional[Pos] = Field(
        None, description="width of one shared expert; default expert_intermediate_size")
    shared_expert_gate: bool = Field(False, description="sigmoid gate on the shared expert, h params (Qwen2-MoE)")
    router_bias: bool = Field(False, description="E router biases per layer (gpt-oss; DeepSeek-V3 e_score_correction_bias)")
    first_k_dense: NonNeg = Field(0, description="the first k layers use the dense FFN")
    every_n: Pos = Field(1, description="after those, layer i (0-based) is MoE when (i + 1) % every_n == 0")
    layers: Optional[list[NonNeg]] = Field(None, description="explicit 0-based MoE layers; overrides the two above")
    num_zero_experts: NonNeg = Field(0, description="identity experts the router may pick besides the E (LongCat): "
                                                    "no weights; a token runs k E / (E + Z) experts on average")
    shared_expert_gated: Optional[bool] = Field(None, description="the shared experts' MLP gated or not; default: "
                                                                  "as the routed experts")
    parallel_dense_intermediate_size: NonNeg = Field(0, description="a dense gated MLP of this width beside the "
                                                                    "experts in every MoE layer (Gemma 4)")
    router_scale: bool = Field(False, description="a learned scale of hidden_size on the router input (Gemma 4)")
    expert_groups: Optional[Pos] = Field(None, description="group-limited routing: experts in G contiguous groups "
                                                           "(DeepSeek n_group); none when absent or 1")
    groups_per_token: Optional[Pos] = Field(None, description="... of which a token picks its experts from at most M "
                                                              "(DeepSeek topk_group)")

    @model_validator(mode="after")
    def _check(self):
        if self.top_k > self.num_experts:
            raise SpecProblem("top_k", f"top_k ({self.top_k}) exceeds num_experts ({self.num_experts})")
        G, M = self.expert_groups, self.groups_per_token
        if (G is None) != (M is None):
            raise SpecProblem("expert_groups" if G is None else "groups_per_token",
                              "expert_groups and groups_per_token go together")
        if G is not None:
            if self.num_experts % G:
                raise SpecProblem("expert_groups", f"{G} groups do not divide {self.num_experts} experts")
            if M > G:
                raise SpecProblem("groups_per_token", f"groups_per_token ({M}) exceeds expert_groups ({G})")
            if M * (self.num_experts // G) < self.top_k:
                raise SpecProblem("groups_per_token", f"{M} groups of {self.num_experts // G} experts hold fewer "
                                                      f"than top_k ({self.top_k})")
        return self


class DTypesSpec(Strict):
    weights: str = Field("bf16", description=f"one of {', '.join(WEIGHT_DTYPES)}")
    quantized_components: list[Literal["attention", "mixer", "dense_ffn", "routed_experts", "shared_experts"]] = Field(
        default_factory=lambda: list(QUANTIZABLE),
        description="components stored in a quantized weights dtype; the rest stay bf16")
    kv_cache: str = Field("bf16", description=f"one of {', '.join(KV_DTYPES)}")
    component_bytes: Optional[dict[str, Amount]] = Field(
        None, description="exact weight bytes by component (a GGUF file's tensors): the bits follow from them")
    unknown_quantization: Optional[str] = Field(
        None, description="a config's quant_method moecalc cannot read: estimates then need --weights-dtype")

    @field_validator("weights")
    @classmethod
    def _weights(cls, v):
        if v not in WEIGHT_DTYPES:
            raise ValueError(f"unknown weights dtype {v!r}; known: {', '.join(WEIGHT_DTYPES)}")
        return v

    @field_validator("kv_cache")
    @classmethod
    def _kv(cls, v):
        if v not in KV_DTYPES:
            raise ValueError(f"unknown KV cache dtype {v!r}; known: {', '.join(KV_DTYPES)}")
        return v


_NUMBERS: dict = {}
"""(spec class, spec repr) -> its ModelNumbers (``_Common.numbers``), the 64 latest."""


class StatedSpec(Strict):
    total_params: Optional[PosFloat] = Field(None, description="published total parameters")
    active_params: Optional[PosFloat] = Field(None, description="published active parameters per token")
    tolerance: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(
        0.01, description="relative gap that warns; widen only for figures published rounded (17B: 0.03)")
    source: Optional[str] = None


class _Common(Strict):
    name: str = Field(min_length=1)
    family: str = Field("custom", description="model family, e.g. deepseek_v3")
    source: Optional[str] = Field(None, description="where the numbers come from")
    dtypes: DTypesSpec = Field(default_factory=DTypesSpec)
    max_position_embeddings: Optional[Pos] = Field(
        None, description="the longest context the model was configured for (config.json max_position_embeddings); "
                          "a longer --context warns")
    rope_scaling: Optional[str] = Field(
        None, max_length=200, description="how the config reaches that length (e.g. 'yarn x40 over 4,096'), "
                                          "named in the warning")
    max_model_len: Optional[Pos] = Field(
        None, description="where it differs from max_position_embeddings: the longest sequence vLLM serves by "
                          "default with the rope scaling (yarn: original x factor)")
    # what a checkpoint folder's or hub repository's safetensors headers say (not a spec field:
    # the loader attaches it; ``spec.checkpoint.Checkpoint`` or None) and why it may be missing
    _checkpoint: Any = PrivateAttr(default=None)
    _checkpoint_notes: tuple = PrivateAttr(default=())

    def context_warning(self, tokens: float, what: str = "--context", training: bool = False) -> str | None:
        """A warning when a sequence of ``tokens`` runs past the model's configured length
        (``max_model_len`` where the rope scaling extends it, else ``max_position_embeddings``):
        the numbers still follow (memory and time scale with the context), but the model was not
        configured for it, so its quality there is unknown."""
        limit = self.max_model_len or self.max_position_embeddings
        if limit is None or tokens <= limit:
            return None
        how = f", rope scaling {self.rope_scaling}" if self.rope_scaling else ""
        basis = (f"max_position_embeddings {self.max_position_embeddings:,}{how}" if not self.max_model_len else
                 f"{limit:,} served (max_position_embeddings {self.max_position_embeddings:,}{how})")
        then = ("training past it is a context extension" if training else
                "vLLM refuses it unless --max-model-len overrides the config")
        return f"{what} {int(tokens):,} is beyond {self.name}'s {basis}: {then}; the numbers extrapolate"

    def numbers(self) -> ModelNumbers:
        """What the engine computes from (``_numbers``), once per distinct spec in a process:
        kept by the spec's content, so that a sweep's reported rows and a comparison's estimates
        share one (``ModelNumbers`` is immutable). The content is the spec's repr (every field,
        floats round-tripping; ~50 us against ~0.8 ms to rebuild), not its JSON: serializing
        would build the pydantic schema a cached spec never needs (~35 ms of a start)."""
        key = (type(self), repr(self))
        got = _NUMBERS.get(key)
        if got is None:
            if len(_NUMBERS) >= 64:
                del _NUMBERS[next(iter(_NUMBERS))]
            got = _NUMBERS[key] = self._numbers()
            for group in got.attention:             # shared from now on: an in-place edit would
                for a in (group.span, group.chunked, group.count):      # reach every later caller
                    a.setflags(write=False)
        return got

    def attach_checkpoint(self, checkpoint, notes: tuple[str, ...] = ()) -> None:
        self._checkpoint, self._checkpoint_notes = checkpoint, tuple(notes)

    def checkpoint(self):
        """(``Checkpoint`` or None, notes on why there is none)."""
        return self._checkpoint, self._checkpoint_notes


SIZE_LIMITS = {
    "hidden_size": 1 << 16, "num_layers": 1 << 12, "vocab_size": 1 << 22, "mtp_layers": 1 << 6,
    "attention.num_heads": 1 << 12, "attention.num_kv_heads": 1 << 12, "attention.head_dim": 1 << 12,
    "attention.v_head_dim": 1 << 12, "attention.q_lora_rank": 1 << 16, "attention.kv_lora_rank": 1 << 16,
    "attention.qk_nope_head_dim": 1 << 12, "attention.qk_rope_head_dim": 1 << 12,
    "ffn.intermediate_size": 1 << 20, "moe.num_experts": 1 << 12, "moe.expert_intermediate_size": 1 << 20,
    "moe.shared_expert_intermediate_size": 1 << 20, "moe.num_shared_experts": 1 << 8,
    "moe.parallel_dense_intermediate_size": 1 << 20, "moe.num_zero_experts": 1 << 12,
}
"""The widths whose products are parameter counts, bounded so that the largest product,
layers x experts x 3 x hidden x expert width = 2^12 x 2^12 x 3 x 2^16 x 2^20 < 2^62, stays
exact in int64 (a 1.1e15-wide expert wrapped to -1.18e21 parameters before). Each is 4-20x
the largest released model's (and DeepSeek-V3's equal-total dense twin, 501,438 wide, fits)."""


class ArchitectureSpec(_Common):
    form: Literal["architecture"] = "architecture"
    hidden_size: Pos
    num_layers: Pos
    vocab_size: Pos
    tie_embeddings: bool = False
    lm_head_bias: bool = False
    norm_bias: bool = Field(False, description="norms carry a bias (LayerNorm); RMSNorm and bias-free LayerNorm do not")
    attention: AttentionSpec
    sliding_attention: Optional[AttentionSpec] = Field(
        None, description="the attention shape of the sliding layers when it differs from the full layers' "
                          "(Gemma 4, MiMo-V2); the window is attention.sliding_window")
    mixer: Optional[MixerSpec] = Field(None, description="the recurrent mixer of layer_types 'linear' (hybrids)")
    ffn: Optional[FFNSpec] = Field(None, description="dense FFN; required unless every layer is MoE")
    moe: Optional[MoESpec] = None
    ffn_types: Optional[list[FFNType]] = Field(
        None, min_length=1, description="per-layer FFN (dense, moe, none), repeated cyclically; overrides the moe "
                                        "layer rules (single-mixer blocks: Nemotron-H)")
    norms_per_layer: Pos = Field(2, description="norms a layer holds (2: before attention and FFN; 1: a "
                                                "single-mixer block; Gemma's sandwich norms: 4)")
    vision_params: Amount = Field(0, description="a multimodal model's vision tower and projector: in the total "
                                                 "(loaded), not active per text token")
    layer_scalars: NonNeg = Field(0, description="stored scalars per layer outside its blocks (Gemma 4: 1)")
    mtp_layers: NonNeg = Field(0, description="multi-token-prediction modules, counted apart (params.mtp)")
    stated: Optional[StatedSpec] = Field(None, description="published totals; >1% off the derived count warns")

    @model_validator(mode="after")
    def _check(self):
        for path, limit in SIZE_LIMITS.items():
            value = self
            for part in path.split("."):
                value = getattr(value, part, None)
            if isinstance(value, int) and value > limit:
                raise SpecProblem(path, f"{value:,} is over the {limit:,} moecalc takes (the largest models are far "
                                        f"below; the limit keeps parameter counts exact in 64-bit integers)")
        self.attention.check_head_dim(self.hidden_size)
        if self.moe and self.moe.layers is not None:
            bad = [i for i in self.moe.layers if i >= self.num_layers]
            if bad:
                raise SpecProblem("moe.layers", f"{bad} out of range for num_layers {self.num_layers}")
        lt = self.attention.layer_types
        if lt and len(lt) > self.num_layers:
            raise SpecProblem("attention.layer_types", f"has {len(lt)} entries for {self.num_layers} layers")
        if lt and "linear" in lt and self.mixer is None:
            raise SpecProblem("mixer", "attention.layer_types has 'linear' layers but no mixer is given")
        types = self.ffn_kinds()
        if self.ffn is None and (types == "dense").any():
            raise SpecProblem("ffn", "required: some layers are dense")
        if self.moe is None and (types == "moe").any():
            raise SpecProblem("moe", "required: ffn_types has 'moe' layers")
        if self.ffn_types and len(self.ffn_types) > self.num_layers:
            raise SpecProblem("ffn_types", f"has {len(self.ffn_types)} entries for {self.num_layers} layers")
        return self

    def ffn_kinds(self) -> np.ndarray:
        """Per layer: dense, moe or none."""
        if self.ffn_types:
            return np.resize(np.array(self.ffn_types), self.num_layers)
        return np.where(self.moe_mask(), "moe", "dense")

    def moe_mask(self) -> np.ndarray:
        """Boolean per layer: True where the FFN is a MoE layer."""
        L, moe = self.num_layers, self.moe
        if moe is None:
            return np.zeros(L, bool)
        if moe.layers is not None:
            mask = np.zeros(L, bool)
            mask[list(moe.layers)] = True
            return mask
        i = np.arange(L)
        return (i >= moe.first_k_dense) & ((i + 1) % moe.every_n == 0)

    def to_schedule(self) -> Schedule:
        """The per-layer schedule: one attention block over each layer's span, then the MoE
        block on MoE layers and the dense FFN on the others."""
        at, moe, ffn = self.attention, self.moe, self.ffn
        attention = at.block(self.hidden_size)
        sliding = self.sliding_attention.block(self.hidden_size) if self.sliding_attention else attention
        mixer = self.mixer.block(self.hidden_size) if self.mixer else None
        span, chunked = at.spans(self.num_layers)
        kinds = np.resize(np.array(at.layer_types or ["full"]), self.num_layers)
        dense = DenseFFN(ffn.intermediate_size, ffn.gated, ffn.bias) if ffn else None
        routed = None
        if moe:
            limited = (moe.expert_groups or 1) > 1
            routed = MoE(num_experts=moe.num_experts, top_k=moe.top_k, expert_intermediate=moe.expert_intermediate_size,
                         gated=moe.gated, expert_bias=moe.expert_bias, num_shared_experts=moe.num_shared_experts,
                         shared_intermediate=moe.shared_expert_intermediate_size or moe.expert_intermediate_size,
                         shared_expert_gate=moe.shared_expert_gate, router_bias=moe.router_bias,
                         expert_groups=moe.expert_groups if limited else 0,
                         groups_per_token=moe.groups_per_token if limited else 0,
                         num_zero_experts=moe.num_zero_experts, shared_gated=moe.shared_expert_gated,
                         parallel_dense=moe.parallel_dense_intermediate_size, router_scale=moe.router_scale)
        mixers = {"linear": mixer, "none": None, "sliding": sliding}
        ffns = {"moe": routed, "dense": dense, "none": None}
        layers = tuple(Layer(mixers.get(kind, attention), ffns[f], FULL_SPAN if kind in ("linear", "none") else float(w),
                             bool(c), self.norms_per_layer, self.layer_scalars)
                       for kind, f, w, c in zip(kinds, self.ffn_kinds(), span, chunked))
        mtp = Layer(attention, routed or dense, norms=2) if self.mtp_layers else None
        return Schedule(hidden_size=self.hidden_size, vocab_size=self.vocab_size, layers=layers,
                        tie_embeddings=self.tie_embeddings, lm_head_bias=self.lm_head_bias, norm_bias=self.norm_bias,
                        mtp_layers=self.mtp_layers, mtp_layer=mtp, vision_params=self.vision_params)

    def _numbers(self) -> ModelNumbers:
        """What the engine computes from: the schedule's counts and shapes."""
        return from_schedule(self.to_schedule(), tuple(self.dtypes.quantized_components))


class SummarySpec(_Common):
    form: Literal["summary"]
    total_params: PosFloat = Field(description="stated total parameters (main model)")
    active_params: PosFloat = Field(description="stated active parameters per token")
    num_experts: Pos
    top_k: Pos
    num_layers: Pos
    hidden_size: Pos
    vocab_size: Optional[Pos] = Field(None, description="if given, embedding and lm_head are split out")
    tie_embeddings: bool = False
    attention: AttentionSpec = Field(description="the KV layout and heads (attention FLOPs, KV cache)")
    moe_layers: Optional[Pos] = Field(None, description="assumed MoE layers (all-to-alls, all-reduces); "
                                                        "default: every layer")
    widest_activation: Optional[Pos] = Field(
        None, description="assumed widest activation per token of any layer (the activation workspace); "
                          "default: the attention's or a 4 x hidden_size FFN's, the larger")

    @model_validator(mode="after")
    def _check(self):
        if self.top_k >= self.num_experts:
            raise SpecProblem("top_k", f"top_k ({self.top_k}) must be below num_experts ({self.num_experts}) "
                                       "to infer the experts' share from total - active")
        if self.active_params > self.total_params:
            raise SpecProblem("active_params", f"{self.active_params:.4g} exceeds total_params ({self.total_params:.4g})")
        emb = (self.vocab_size or 0) * self.hidden_size * (1 if self.tie_embeddings else 2)
        routed = (self.total_params - self.active_params) * self.num_experts / (self.num_experts - self.top_k)
        if routed + emb > self.total_params:
            raise SpecProblem("active_params", "total - active implies more routed-expert parameters than the total holds")
        self.attention.check_head_dim(self.hidden_size)
        if self.moe_layers is not None and self.moe_layers > self.num_layers:
            raise SpecProblem("moe_layers", f"{self.moe_layers} exceeds num_layers ({self.num_layers})")
        return self

    def to_summary(self) -> Summary:
        span, chunked = self.attention.spans(self.num_layers)
        return Summary(total_params=round(self.total_params), active_params=round(self.active_params),
                       num_experts=self.num_experts, top_k=self.top_k, num_layers=self.num_layers,
                       hidden_size=self.hidden_size, vocab_size=self.vocab_size or 0,
                       tie_embeddings=self.tie_embeddings, attention=self.attention.block(self.hidden_size),
                       span=span, chunked=chunked, quantized=tuple(self.dtypes.quantized_components),
                       moe_layers=self.moe_layers, widest_activation=self.widest_activation)

    def _numbers(self) -> ModelNumbers:
        """What the engine computes from: the stated totals and the named assumptions."""
        return from_summary(self.to_summary())


ModelSpec = Union[ArchitectureSpec, SummarySpec]


def json_schema() -> dict:
    """JSON Schema of a YAML model spec (either form), for editor completion."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(ModelSpec).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "moecalc model spec"
    return schema
