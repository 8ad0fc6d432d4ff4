"""One user on one machine: weights split between GPU memory and host memory, and the speed of
decoding and of prefilling a prompt (llama.cpp with ``--n-cpu-moe``/``-ot``, ktransformers).

With the routed experts of some MoE layers in host memory, a decoded token reads, per layer:
on the GPU the non-expert weights and its k experts of the GPU-resident layers; in host memory
its k experts of each offloaded layer (what makes MoE offload work: k of E, not all). The
experts in host memory are either computed there by the CPU (reading them at host bandwidth)
or streamed to the GPU over PCIe (``expert_compute``). Symbols: B_g, B_h the bytes a token reads
on the GPU and in host memory, F_g, F_h the FLOPs done there, P the prompt's tokens, W_h all
expert bytes in host memory:

  decode  = B_g / (HBM e_hbm) + KV / (HBM e_hbm) + B_h / (host e_host)           (CPU experts)
                                                 + B_h / (PCIe e_pcie)            (GPU experts)
  prefill = P F_g / (peak_gpu mfu) + P F_h / (peak_cpu e_cpu)                     (CPU experts)
          = P (F_g + F_h) / (peak_gpu mfu) + W_h / (PCIe e_pcie)                  (GPU experts:
            every host expert crosses once per prompt, as llama.cpp's offloaded prefill does)

Sources: the placements are llama.cpp's ``--n-cpu-moe``/``-ot exps=CPU`` and ktransformers'
"routed experts on CPU, attention and shared experts on GPU" (DeepseekR1_V3_tutorial.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moecalc.engine.records import Array, f64


@dataclass(frozen=True)
class LocalMachine:
    """One GPU (or a unified-memory accelerator) and its host, in SI units."""
    gpu_bandwidth: Array            # bytes/s
    gpu_flops: Array                # FLOP/s of the GEMMs' dtype
    host_bandwidth: Array           # bytes/s over the sockets used
    host_flops: Array               # FLOP/s of the cores
    pcie_bandwidth: Array           # bytes/s, one direction
    hbm_efficiency: Array = 0.85
    mfu: Array = 0.4
    host_efficiency: Array = 0.5
    cpu_efficiency: Array = 0.5
    pcie_efficiency: Array = 0.8


@dataclass(frozen=True)
class LocalSpeed:
    decode_seconds: Array           # per generated token
    prefill_seconds: Array          # for the whole prompt
    prompt_tokens: Array

    @property
    def tokens_per_s(self) -> Array:
        return 1.0 / self.decode_seconds

    @property
    def prefill_tokens_per_s(self) -> Array:
        return f64(self.prompt_tokens) / self.prefill_seconds


def local_speed(machine: LocalMachine, gpu_read, host_read, kv_read, gpu_flops, host_flops, host_weights,
                prompt_tokens, experts_on_gpu) -> LocalSpeed:
    """Decode and prefill of one sequence (module docstring): ``gpu_read``/``host_read`` bytes a
    decoded token reads on each side, ``kv_read`` its cache, ``gpu_flops``/``host_flops`` per
    token, ``host_weights`` every byte in host memory, ``experts_on_gpu`` True to stream host
    experts to the GPU instead of computing them on the CPU."""
    m = machine
    gpu = (f64(gpu_read) + kv_read) / (m.gpu_bandwidth * m.hbm_efficiency)
    on_cpu = f64(host_read) / (m.host_bandwidth * m.host_efficiency)
    streamed = f64(host_read) / (m.pcie_bandwidth * m.pcie_efficiency)
    decode = gpu + np.where(experts_on_gpu, streamed, on_cpu)
    P = f64(prompt_tokens)
    gpu_compute = P * f64(gpu_flops) / (m.gpu_flops * m.mfu)
    cpu_compute = P * f64(host_flops) / (np.maximum(f64(m.host_flops), 1.0) * m.cpu_efficiency)
    stream_prefill = P * (f64(gpu_flops) + host_flops) / (m.gpu_flops * m.mfu) \
        + f64(host_weights) / (m.pcie_bandwidth * m.pcie_efficiency)
    prefill = np.where(experts_on_gpu, stream_prefill, gpu_compute + cpu_compute)
    return LocalSpeed(decode_seconds=decode, prefill_seconds=prefill, prompt_tokens=P)
