"""The YAML model spec, validated with pydantic (unknown keys rejected).

Two forms:
- ``architecture`` (default): every dimension the numbers depend on; counts are derived.
- ``summary``: stated totals for a model whose architecture is not public, used as given.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

import numpy as np
from pydantic import Field, field_validator, model_validator

from moecalc.spec.types import NonNeg, Pos, PosFloat, SpecProblem, Strict
from moecalc.engine.model import ModelNumbers, Summary, from_schedule, from_summary
from moecalc.engine.schedule import FULL_SPAN, GQA, MLA, QUANTIZABLE, DenseFFN, Layer, MoE, Schedule
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES

LayerType = Literal["full", "sliding", "chunked"]


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
            for name in ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim"):
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
                       v_head_dim=self.v_head_dim, qkv_bias=self.qkv_bias, o_bias=self.o_bias)
        head_dim, v_head_dim = self.dims(hidden_size)
        return GQA(num_heads=self.num_heads, num_kv_heads=self.kv_heads, head_dim=head_dim, v_head_dim=v_head_dim,
                   qkv_bias=self.qkv_bias, o_bias=self.o_bias, qk_norm=self.qk_norm, sinks=self.sinks)

    def spans(self, num_layers: int) -> tuple[np.ndarray, np.ndarray]:
        """Per layer: tokens attended/held (W, C or unbounded), and whether it is a chunk."""
        types = np.resize(np.array(self.layer_types or ["full"]), num_layers)
        span = np.full(num_layers, FULL_SPAN)
        span[types == "sliding"] = self.sliding_window or 0
        span[types == "chunked"] = self.chunk_size or 0
        return span, types == "chunked"


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


class ArchitectureSpec(_Common):
    form: Literal["architecture"] = "architecture"
    hidden_size: Pos
    num_layers: Pos
    vocab_size: Pos
    tie_embeddings: bool = False
    lm_head_bias: bool = False
    norm_bias: bool = Field(False, description="norms carry a bias (LayerNorm); RMSNorm and bias-free LayerNorm do not")
    attention: AttentionSpec
    ffn: Optional[FFNSpec] = Field(None, description="dense FFN; required unless every layer is MoE")
    moe: Optional[MoESpec] = None
    mtp_layers: NonNeg = Field(0, description="multi-token-prediction modules, counted apart (params.mtp)")
    stated: Optional[StatedSpec] = Field(None, description="published totals; >1% off the derived count warns")

    @model_validator(mode="after")
    def _check(self):
        self.attention.check_head_dim(self.hidden_size)
        if self.moe and self.moe.layers is not None:
            bad = [i for i in self.moe.layers if i >= self.num_layers]
            if bad:
                raise SpecProblem("moe.layers", f"{bad} out of range for num_layers {self.num_layers}")
        lt = self.attention.layer_types
        if lt and len(lt) > self.num_layers:
            raise SpecProblem("attention.layer_types", f"has {len(lt)} entries for {self.num_layers} layers")
        if self.ffn is None and int(self.moe_mask().sum()) < self.num_layers:
            raise SpecProblem("ffn", "required: some layers are dense")
        return self

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
        span, chunked = at.spans(self.num_layers)
        dense = DenseFFN(ffn.intermediate_size, ffn.gated, ffn.bias) if ffn else None
        routed = None
        if moe:
            limited = (moe.expert_groups or 1) > 1
            routed = MoE(num_experts=moe.num_experts, top_k=moe.top_k, expert_intermediate=moe.expert_intermediate_size,
                         gated=moe.gated, expert_bias=moe.expert_bias, num_shared_experts=moe.num_shared_experts,
                         shared_intermediate=moe.shared_expert_intermediate_size or moe.expert_intermediate_size,
                         shared_expert_gate=moe.shared_expert_gate, router_bias=moe.router_bias,
                         expert_groups=moe.expert_groups if limited else 0,
                         groups_per_token=moe.groups_per_token if limited else 0)
        layers = tuple(Layer(attention, routed if is_moe else dense, float(w), bool(c))
                       for is_moe, w, c in zip(self.moe_mask(), span, chunked))
        mtp = Layer(attention, routed or dense) if self.mtp_layers else None
        return Schedule(hidden_size=self.hidden_size, vocab_size=self.vocab_size, layers=layers,
                        tie_embeddings=self.tie_embeddings, lm_head_bias=self.lm_head_bias, norm_bias=self.norm_bias,
                        mtp_layers=self.mtp_layers, mtp_layer=mtp)

    def numbers(self) -> ModelNumbers:
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

    def numbers(self) -> ModelNumbers:
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
