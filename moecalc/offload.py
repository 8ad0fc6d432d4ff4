"""Local and offloaded serving: one user on a machine whose GPU cannot hold the whole model, the
routed experts of some layers in host memory (llama.cpp's ``--n-cpu-moe N``, ktransformers),
and the runtime flags that realize the placement.

The placement is by MoE layer: ``experts:N`` keeps the routed experts of N MoE layers in host
memory (llama.cpp's ``--n-cpu-moe N`` takes the first N); ``experts`` all of them, attention,
dense and shared experts staying on the GPU (ktransformers); ``none`` everything on the GPU;
``auto`` the fewest offloaded layers that fit, which is the fastest decode (every offloaded
layer moves its experts' reads from GPU to host bandwidth). Local runtimes reserve no
vLLM-style headroom (``gpu_memory_utilization`` does not apply), need ``local_overhead_bytes``
per GPU, and llama.cpp keeps the input embedding in host memory (a token reads one row). Speed:
``engine.offload.local_speed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from moecalc.errors import MoecalcError

OFFLOADS = ("none", "auto", "experts", "experts:N", "layers:N")


@dataclass(frozen=True)
class LocalRequest:
    """Where to run: a GPU type (``gpus`` of them, llama.cpp's layer split), a host, the offload
    rule and where offloaded experts compute (cpu, or gpu: streamed over PCIe)."""
    gpu: str
    gpus: int = 1
    host: str | None = None
    offload: str = "auto"
    expert_compute: str = "cpu"
    expert_cache: int = 0          # the hottest experts of each offloaded layer kept on the GPU


def cache_hit_rate(pi: np.ndarray, top_k: int, cached: int) -> float:
    """Share of a token's expert picks that land in a GPU cache of the ``cached`` hottest experts:
    sum of the largest ``cached`` inclusion probabilities over k (uniform routing: cached / E)."""
    return float(np.sort(np.asarray(pi, dtype=np.float64))[::-1][:cached].sum() / top_k) if cached else 0.0


def parse_offload(text: str) -> tuple[str, int | None]:
    """``none|auto|experts|experts:N|layers:N`` -> (kind, N)."""
    kind, _, n = text.strip().partition(":")
    if kind not in ("none", "auto", "experts", "layers") or (n and kind not in ("experts", "layers")) \
            or (kind == "layers" and not n):
        raise MoecalcError(f"must be one of {', '.join(OFFLOADS)}, got {text!r}", field="--offload")
    if n:
        if not n.isdigit():
            raise MoecalcError(f"{kind}:N needs a whole number of layers, got {n!r}", field="--offload")
        return kind, int(n)
    return kind, None


def local_estimate(spec, workload, assumptions, request: LocalRequest, catalog, label: str | None = None,
                   routing=None) -> dict:
    """The model's numbers (as ``estimate``) and a ``local`` section: the placement by component,
    GPU and host memory against capacity, decode and prefill speed, and the runtime flags. With an
    ``expert_cache``, the hottest experts of each offloaded layer stay on the GPU and catch the
    share of a token's picks ``cache_hit_rate`` gives under ``routing`` (uniform by default)."""
    from moecalc import report
    from moecalc.engine.offload import LocalMachine, local_speed
    from moecalc.estimate import model_scenario, stated_warnings
    from moecalc.hardware import compute_dtype_for

    scenario, weights_dtype, kv_dtype, dtypes = model_scenario(spec, workload, assumptions)
    m, ev = scenario.model, scenario.evaluate()
    p = m.params
    out = report.model_sections(spec, label, m, ev, weights_dtype, kv_dtype, assumptions.as_dict(True),
                                stated_warnings(spec, p.total, p.active, p.embedding, p.lm_head))
    gpu_key, acc = catalog.gpu(request.gpu)
    host_key, host = catalog.host(request.host) if request.host else (None, None)
    kind, n = parse_offload(request.offload)
    if host is None and kind != "none":
        raise MoecalcError("offloading needs a host for the experts: --host (moecalc hardware --hosts)",
                           field="--host")
    if request.expert_compute not in ("cpu", "gpu"):
        raise MoecalcError(f"must be cpu or gpu, got {request.expert_compute!r}", field="--expert-compute")

    w = {c: float(np.asarray(b)) for c, b in ev.weights.items()}
    total = sum(w.values())
    L_moe, E, k = m.num_moe_layers, m.num_experts, m.top_k
    routed = w.get("routed_experts", 0.0)
    per_layer = routed / L_moe if L_moe else 0.0
    embedding = w.get("embedding", 0.0) if host is not None else 0.0        # llama.cpp: token_embd on the CPU
    cache = float(np.asarray(ev.kv_cache_bytes)) + float(np.asarray(ev.state_bytes))
    workspace = float(np.asarray(ev.activation_workspace_bytes))
    overhead = assumptions.local_overhead_bytes * request.gpus
    capacity = acc.memory_bytes * request.gpus

    per_expert = per_layer / E if E else 0.0
    cached = min(request.expert_cache, E)
    if request.expert_cache and not E:
        raise MoecalcError(f"{spec.name} has no routed experts to cache", field="--gpu-expert-cache")
    if cached:
        from moecalc.routers import Routing, inclusion

        hit = cache_hit_rate(inclusion(routing or Routing(), E, k, spec.name), k, cached)
    else:
        hit = 0.0

    # whole layers on the CPU (llama.cpp -ngl L - N): an average layer's weights and KV in host memory
    L = m.num_layers
    body = total - w.get("embedding", 0.0) - w.get("lm_head", 0.0)
    whole = n if kind == "layers" else 0
    if whole > L:
        raise MoecalcError(f"{spec.name} has {L} layers, not {whole}", field="--offload")

    def gpu_bytes(layers: int) -> float:
        return (total - embedding - layers * (per_layer - cached * per_expert) - whole * body / L
                + cache * (1 - whole / L) + workspace + overhead)

    if kind in ("none", "layers"):
        layers = 0
    elif kind == "experts":
        layers = L_moe if n is None else n
        if layers > L_moe:
            raise MoecalcError(f"{spec.name} has {L_moe} MoE layers, not {layers}", field="--offload")
    else:   # auto: the fewest offloaded MoE layers that fit
        layers = next((x for x in range(L_moe + 1) if gpu_bytes(x) <= capacity), L_moe)
    if not L_moe and layers:
        raise MoecalcError(f"{spec.name} has no routed experts to offload", field="--offload")
    on_gpu = gpu_bytes(layers)
    in_host = layers * (per_layer - cached * per_expert) + embedding + whole * (body + cache) / L
    host_capacity = host.memory_bytes if host is not None else 0.0
    fits = on_gpu <= capacity and in_host <= max(host_capacity, 0.0) + (0 if host is not None else 0)

    # a decoded token (batch B) reads the experts it touches: B tokens hit E (1 - (1 - k/E)^B) of E
    B = max(int(workload.batch), 1)
    touched = E * (1 - (1 - k / E) ** B) if E else 0.0
    active_body = body - routed + L_moe * touched * per_expert         # what a token reads of the layers
    gpu_read = (total - routed - embedding + (L_moe - layers * (1 - hit)) * touched * per_expert
                - whole * active_body / L)
    host_read = layers * (1 - hit) * touched * per_expert + whole * active_body / L
    routed_flops = 2.0 * p.active_by_component.get("routed_experts", 0)
    decode_flops = float(np.asarray(ev.decode.per_token))
    host_flops = routed_flops * (layers / L_moe if L_moe else 0.0) \
        + whole / L * (decode_flops - 2.0 * p.active_by_component.get("lm_head", 0))
    compute = compute_dtype_for(acc, dtypes[0], assumptions.compute_dtype)
    link = catalog.link(host.pcie, kind="scale-up") if host is not None else None
    machine = LocalMachine(gpu_bandwidth=acc.hbm_bytes_per_s, gpu_flops=acc.peak_flops(compute),
                           host_bandwidth=host.bandwidth_bytes_per_s if host else 1.0,
                           host_flops=host.peak_flops(assumptions.cpu_compute_dtype) if host else 1.0,
                           pcie_bandwidth=link.bytes_per_s if link else 1.0,
                           hbm_efficiency=assumptions.hbm_efficiency, mfu=assumptions.mfu,
                           host_efficiency=assumptions.host_bandwidth_efficiency,
                           cpu_efficiency=assumptions.cpu_efficiency, pcie_efficiency=assumptions.pcie_efficiency)
    prompt = workload.isl or workload.context
    # a step reads every sequence's cache, and reads and writes back its recurrent state
    kv_read = float(np.asarray(ev.kv_cache_bytes)) + 2.0 * float(np.asarray(ev.state_bytes))
    host_read += kv_read * whole / L                                   # the CPU layers' cache lives there
    kv_read *= 1 - whole / L
    if whole and request.expert_compute == "gpu":
        raise MoecalcError("whole layers on the CPU compute there; --expert-compute gpu applies to experts:N",
                           field="--expert-compute")
    speed = local_speed(machine, gpu_read, host_read, kv_read, decode_flops - host_flops, host_flops, in_host,
                        prompt, request.expert_compute == "gpu")
    parts = {}
    for c, b in w.items():
        if not b:
            continue
        host_part = (layers * (per_layer - cached * per_expert) if c == "routed_experts"
                     else (embedding if c == "embedding" else 0.0))
        if c not in ("embedding", "lm_head"):
            host_part += whole / L * b                                    # whole layers: their share of it
        parts[c] = {"gpu_bytes": b - host_part, "host_bytes": host_part}
    out["local"] = {
        "gpu": gpu_key, "gpus": request.gpus, "host": host_key, "offload": request.offload,
        "expert_compute": request.expert_compute, "offloaded_moe_layers": layers, "moe_layers": L_moe,
        "expert_cache": cached, "expert_cache_hit_rate": hit, "cpu_layers": whole, "layers": L,
        "placement": parts,
        "gpu_bytes": on_gpu, "gpu_capacity_bytes": capacity, "host_bytes": in_host, "host_capacity_bytes": host_capacity,
        "fits": bool(on_gpu <= capacity and (host is None or in_host <= host_capacity)),
        "decode_read_bytes": {"gpu": gpu_read + kv_read, "host": host_read},
        "runtime_flags": runtime_flags(spec, workload, layers, L_moe, in_host, host, request, L - whole),
    }
    out["perf"] = {"model": "local", "tokens_per_s_per_user": float(np.asarray(speed.tokens_per_s)) if fits else None,
                   "tpot_seconds": float(np.asarray(speed.decode_seconds)) if fits else None,
                   "prefill_tokens_per_s": float(np.asarray(speed.prefill_tokens_per_s)) if fits else None,
                   "prompt_tokens": int(prompt)}
    if not out["local"]["fits"]:
        need = "the GPU" if on_gpu > capacity else "host memory"
        out["warnings"].append(f"does not fit: {on_gpu / 1e9:,.2f} GB on {request.gpus} x {acc.name} "
                               f"({capacity / 1e9:,.2f} GB), {in_host / 1e9:,.2f} GB in host memory "
                               f"({host_capacity / 1e9:,.2f} GB): {need} is short; no speed is given")
    return out


def runtime_flags(spec, workload, layers: int, moe_layers: int, host_bytes: float, host, request,
                  gpu_layers: int | None = None) -> dict:
    """The command-line flags that realize the placement in llama.cpp, ktransformers and vLLM."""
    context = workload.isl + (workload.osl or 0) if workload.isl else workload.context
    # llama.cpp's -ngl X puts the output layer and the last X - 1 repeating layers on the GPU
    # (llama_model's i_gpu_start = n_layer + 1 - X): G repeating layers on the GPU is -ngl G + 1
    whole_model = gpu_layers is None or gpu_layers == spec_layers(spec)
    llama = ["-ngl", str(99 if whole_model else gpu_layers + 1), "-c", str(context)]
    if layers and layers == moe_layers:
        llama += ["-ot", "exps=CPU"]                         # every routed-expert tensor in host memory
    elif layers:
        llama += ["--n-cpu-moe", str(layers)]
    if host is not None:
        llama += ["-t", str(host.cores)]
    out = {"llama.cpp": " ".join(llama)}
    if host is not None and layers and not (gpu_layers is not None and gpu_layers < spec_layers(spec)):
        out["ktransformers"] = (f"--cpu_infer {host.cores + 1} --max_new_tokens {workload.osl or 1000}"
                                + (" (its -serve optimize rule keeps every routed expert on the CPU)"
                                   if layers == moe_layers else ""))
        out["vllm"] = f"--cpu-offload-gb {math.ceil(host_bytes / 2**30)}"
    return out


def spec_layers(spec) -> int:
    return spec.numbers().num_layers
