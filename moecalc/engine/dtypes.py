"""Storage cost of one parameter (or cached value) per data type, quantization scales included.

bits_per_element = value_bits + scale_bits / group_elements

A quantized tensor stores one scale per group of ``group_elements`` values. The scale cost is
spread evenly over the elements; edge blocks of tensors whose sides are not a multiple of the
block are counted as partial (the error is below 0.01% of a model's weight bytes).

Sources:
- fp8 block scales: DeepSeek-V3 checkpoint, ``quantization_config.weight_block_size = [128, 128]``
  with one fp32 ``weight_scale_inv`` per block (DeepSeek-V3 report, section 3.3).
- mxfp4: OCP Microscaling spec v1.0: 32 FP4 (E2M1) values share one 8-bit E8M0 scale.
- nvfp4: NVIDIA Blackwell NVFP4: 16 FP4 values share one FP8 (E4M3) scale.
- int4 / int8: GPTQ/AWQ-style group quantization, group 128, one fp16 scale per group
  (zero points, when used, add 4 or 8 bits per group and are not counted).
- int4-g32: compressed-tensors pack-quantized W4A16, symmetric, group 32, one bf16 scale per
  group (Kimi K2 Thinking and K2.5 ``quantization_config``); int8-channel and fp8-channel: one
  scale per output channel (negligible).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    name: str
    value_bits: int
    scale_bits: int = 0
    group_elements: int = 1
    quantized: bool = False
    description: str = ""

    @property
    def bits(self) -> float:
        """Storage bits per element, scales included."""
        return self.value_bits + (self.scale_bits / self.group_elements if self.scale_bits else 0.0)

    @property
    def bytes(self) -> float:
        return self.bits / 8


WEIGHT_DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("fp32", 32, description="IEEE float32"),
    DType("bf16", 16, description="bfloat16"),
    DType("fp16", 16, description="IEEE float16"),
    DType("fp8", 8, 32, 128 * 128, True, "fp8 e4m3, one fp32 scale per 128x128 block (DeepSeek-V3)"),
    DType("fp8-tensor", 8, 0, 1, True, "fp8 e4m3, one scale per tensor (negligible)"),
    DType("fp8-channel", 8, 0, 1, True, "fp8 e4m3, one scale per output channel (negligible)"),
    DType("int8", 8, 16, 128, True, "int8, one fp16 scale per group of 128"),
    DType("int8-channel", 8, 0, 1, True, "int8, one scale per output channel (negligible; compressed-tensors)"),
    DType("int4", 4, 16, 128, True, "int4, one fp16 scale per group of 128 (GPTQ/AWQ)"),
    DType("int4-g32", 4, 16, 32, True, "int4, one bf16 scale per group of 32 (compressed-tensors, Kimi K2.5)"),
    DType("mxfp4", 4, 8, 32, True, "fp4 e2m1, one e8m0 scale per 32 (OCP MX)"),
    DType("nvfp4", 4, 8, 16, True, "fp4 e2m1, one fp8 scale per 16 (NVIDIA NVFP4)"),
    # GGUF (llama.cpp) block types: bits = block bytes x 8 / block values (ggml's type traits)
    DType("q8_0", 8, 16, 32, True, "GGUF Q8_0: 32 int8 and an fp16 scale, 34 B / 32"),
    DType("q4_0", 4, 16, 32, True, "GGUF Q4_0: 32 4-bit and an fp16 scale, 18 B / 32"),
    DType("q4_1", 4, 32, 32, True, "GGUF Q4_1: scale and min, 20 B / 32"),
    DType("q5_0", 5, 16, 32, True, "GGUF Q5_0: 22 B / 32"),
    DType("q5_1", 5, 32, 32, True, "GGUF Q5_1: 24 B / 32"),
    DType("q2_k", 2, 160, 256, True, "GGUF Q2_K: 84 B / 256"),
    DType("q3_k", 3, 112, 256, True, "GGUF Q3_K: 110 B / 256"),
    DType("q4_k", 4, 128, 256, True, "GGUF Q4_K: 144 B / 256"),
    DType("q5_k", 5, 128, 256, True, "GGUF Q5_K: 176 B / 256"),
    DType("q6_k", 6, 144, 256, True, "GGUF Q6_K: 210 B / 256"),
    DType("iq1_s", 1, 144, 256, True, "GGUF IQ1_S: 50 B / 256"),
    DType("iq1_m", 1, 192, 256, True, "GGUF IQ1_M: 56 B / 256"),
    DType("iq2_xxs", 2, 16, 256, True, "GGUF IQ2_XXS: 66 B / 256"),
    DType("iq2_xs", 2, 80, 256, True, "GGUF IQ2_XS: 74 B / 256"),
    DType("iq2_s", 2, 144, 256, True, "GGUF IQ2_S: 82 B / 256"),
    DType("iq3_xxs", 3, 16, 256, True, "GGUF IQ3_XXS: 98 B / 256"),
    DType("iq3_s", 3, 112, 256, True, "GGUF IQ3_S: 110 B / 256"),
    DType("iq4_nl", 4, 16, 32, True, "GGUF IQ4_NL: 18 B / 32"),
    DType("iq4_xs", 4, 64, 256, True, "GGUF IQ4_XS: 136 B / 256"),
    # a K-quant mix's FFN (down projections in Q6_K on half the layers, gate and up in the base type)
    DType("q4_k_m-ffn", 4, 648, 768, True, "Q4_K_M's FFN: (2 x 4.5 + (6.5625 + 4.5) / 2) / 3 = 4.84375 bits"),
    DType("q5_k_m-ffn", 5, 520, 768, True, "Q5_K_M's FFN: (2 x 5.5 + (6.5625 + 5.5) / 2) / 3 = 5.67708 bits"),
)}

GGUF_MIXES: dict[str, dict[str, str]] = {
    # llama.cpp's llama_model_quantize rules for the _M mixes, by component: attention and the
    # embedding in the base K type, the FFN with its down projections in a larger type on the
    # layers use_more_bits picks (the first and last eighth, every third in between: half),
    # the output head in Q6_K. Attention's own V in a larger type on those layers is left out
    # (under 1% of attention). A GGUF file gives every tensor's real type.
    "q4_k_m": {"attention": "q4_k", "mixer": "q4_k", "embedding": "q4_k", "lm_head": "q6_k",
               "dense_ffn": "q4_k_m-ffn", "routed_experts": "q4_k_m-ffn", "shared_experts": "q4_k_m-ffn"},
    "q5_k_m": {"attention": "q5_k", "mixer": "q5_k", "embedding": "q5_k", "lm_head": "q6_k",
               "dense_ffn": "q5_k_m-ffn", "routed_experts": "q5_k_m-ffn", "shared_experts": "q5_k_m-ffn"},
}
"""GGUF quantization mixes: ``--weights-dtype q4_k_m`` is this per-component assignment."""

KV_DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("fp32", 32, description="IEEE float32"),
    DType("bf16", 16, description="bfloat16"),
    DType("fp16", 16, description="IEEE float16"),
    DType("fp8", 8, description="fp8 e4m3/e5m2, per-tensor scale (negligible)"),
    DType("int8", 8, description="int8, per-tensor scale (negligible)"),
)}

# Activations sent over the all-to-all (DeepEP: fp8 dispatch with one fp32 scale per 128 values
# of each token, bf16 combine; deepseek-ai/DeepEP README and DeepSeek-V3 report section 3.3.3).
WIRE_DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("fp32", 32, description="IEEE float32"),
    DType("bf16", 16, description="bfloat16"),
    DType("fp16", 16, description="IEEE float16"),
    DType("fp8", 8, 32, 128, True, "fp8 e4m3, one fp32 scale per 128 values (DeepEP dispatch)"),
    DType("fp8-noscale", 8, 0, 1, True, "fp8 without scales (papers' back-of-envelope: 1 byte per value)"),
)}
