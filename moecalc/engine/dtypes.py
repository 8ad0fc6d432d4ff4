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
)}

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
