"""Local and offloaded serving: GGUF dtypes, the placement of experts between GPU and host memory,
the speed of one user, the runtime flags, and the published local measurements."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moecalc.cli import app
from moecalc.engine.dtypes import GGUF_MIXES, WEIGHT_DTYPES
from moecalc.engine.offload import LocalMachine, local_speed

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def run(*args: str) -> dict:
    result = runner.invoke(app, ["estimate", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def run_sweep(*args: str) -> dict:
    result = runner.invoke(app, ["sweep", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name, block_bytes, values", [
    ("q4_0", 18, 32), ("q8_0", 34, 32), ("q4_k", 144, 256), ("q5_k", 176, 256), ("q6_k", 210, 256),
    ("q2_k", 84, 256), ("q3_k", 110, 256), ("iq2_xxs", 66, 256), ("iq1_s", 50, 256), ("iq4_xs", 136, 256)])
def test_gguf_block_sizes(name, block_bytes, values):
    """ggml's type traits: a block of ``values`` weights takes ``block_bytes`` bytes."""
    assert WEIGHT_DTYPES[name].bits == block_bytes * 8 / values


def test_q4_k_m_by_hand():
    """Q4_K_M: gate and up in Q4_K, down in Q6_K on half the layers: (2 x 4.5 + (6.5625 + 4.5)/2)/3
    bits; attention and embedding Q4_K, the head Q6_K. Llama 3.1 8B comes to 4.895 GB, 4.56 GiB
    (llama-bench printed 4.58 GiB for Llama 3 8B's file, which keeps attention's V in Q6_K on
    those layers too)."""
    assert WEIGHT_DTYPES["q4_k_m-ffn"].bits == (2 * 4.5 + (6.5625 + 4.5) / 2) / 3
    assert GGUF_MIXES["q4_k_m"]["lm_head"] == "q6_k"
    r = run("llama-3.1-8b", "--weights-dtype", "q4_k_m")
    p, w = r["params"]["by_component"], r["weights"]["by_component"]
    assert w["dense_ffn"] == pytest.approx(p["dense_ffn"] * 4.84375 / 8)
    assert w["lm_head"] == pytest.approx(p["lm_head"] * 6.5625 / 8)
    assert abs(r["weights"]["bytes"] / 2**30 - 4.58) < 0.05


def test_local_speed_by_hand():
    """GPU 1e12 B/s, host 1e11 B/s, PCIe 1e10 B/s, efficiencies 1: a token reading 2e9 B on the GPU
    (KV 1e9 more) and 1e9 B in host memory decodes in 3e-3 + 1e-2 s with CPU experts, 3e-3 + 0.1 s
    streamed; a 100-token prompt of 1e9 GPU FLOPs and 1e9 host FLOPs per token at 1e14 and 1e12
    FLOP/s prefills in 1e-3 + 0.1 s, or with every 5e10 host byte streamed, 2e-3 + 5 s."""
    m = LocalMachine(gpu_bandwidth=1e12, gpu_flops=1e14, host_bandwidth=1e11, host_flops=1e12, pcie_bandwidth=1e10,
                     hbm_efficiency=1, mfu=1, host_efficiency=1, cpu_efficiency=1, pcie_efficiency=1)
    cpu = local_speed(m, 2e9, 1e9, 1e9, 1e9, 1e9, 5e10, 100, False)
    gpu = local_speed(m, 2e9, 1e9, 1e9, 1e9, 1e9, 5e10, 100, True)
    assert float(cpu.decode_seconds) == pytest.approx(3e-3 + 1e-2)
    assert float(gpu.decode_seconds) == pytest.approx(3e-3 + 0.1)
    assert float(cpu.prefill_seconds) == pytest.approx(1e-3 + 0.1)
    assert float(gpu.prefill_seconds) == pytest.approx(2e-3 + 5.0)
    assert float(cpu.prefill_tokens_per_s) == pytest.approx(100 / 0.101)


def test_auto_offloads_the_fewest_layers_that_fit():
    """Qwen3-30B-A3B in Q4_K_M on an 8 GB RTX 2080 beside a 32 GB DDR4 desktop: each MoE layer's
    experts take routed / 48 bytes; auto takes the smallest N whose GPU part (everything but the
    embedding and N layers' experts, plus KV cache, workspace and 0.5 GiB) fits 8 GB, and one
    fewer does not; llama.cpp's flag is --n-cpu-moe N."""
    r = run("qwen3-30b-a3b", "--weights-dtype", "q4_k_m", "--gpu", "rtx2080", "--host", "desktop-ddr4",
            "--offload", "auto")
    lo = r["local"]
    n, per_layer = lo["offloaded_moe_layers"], r["weights"]["by_component"]["routed_experts"] / 48
    assert lo["fits"] and 0 < n < 48
    assert lo["gpu_bytes"] <= 8e9 < lo["gpu_bytes"] + per_layer
    assert lo["placement"]["routed_experts"]["host_bytes"] == pytest.approx(n * per_layer)
    assert f"--n-cpu-moe {n}" in lo["runtime_flags"]["llama.cpp"]
    assert r["perf"]["tokens_per_s_per_user"] > 0 and r["perf"]["prefill_tokens_per_s"] > 0


def test_deepseek_v3_ktransformers_placement():
    """DeepSeek-V3 in Q4_K_M on a 24 GB GPU with a two-socket Xeon: every routed expert in host
    memory (ktransformers' rule, -ot exps=CPU), about 18 GB on the GPU, a decoded token reading
    8 experts in each of 58 layers from host memory (58 x 8 x 3 x 7168 x 2048 weights in 4.84 bits)."""
    r = run("deepseek-v3", "--weights-dtype", "q4_k_m", "--gpu", "rtx4090d", "--host", "xeon-6454s-2s",
            "--offload", "experts", "--context", "2048")
    lo = r["local"]
    assert lo["fits"] and lo["offloaded_moe_layers"] == 58
    assert "-ot exps=CPU" in lo["runtime_flags"]["llama.cpp"] and "ktransformers" in lo["runtime_flags"]
    assert lo["decode_read_bytes"]["host"] == pytest.approx(58 * 8 * 3 * 7168 * 2048 * 4.84375 / 8, rel=1e-6)
    assert 10e9 < lo["gpu_bytes"] < 24e9


@pytest.mark.parametrize("args, needle", [
    (["--offload", "sometimes"], "none, auto, experts"),
    (["--offload", "experts:x"], "whole number"),
    (["--offload", "experts"], "--host"),
    (["--host", "desktop-ddr4", "--expert-compute", "tpu"], "cpu or gpu"),
    (["--host", "nowhere"], "unknown host"),
    (["--host", "desktop-ddr4", "--tp", "2"], "does not apply"),
    (["--host", "desktop-ddr4", "--offload", "experts:99"], "48 MoE layers"),
    (["--host", "desktop-ddr4", "--price-per-hour", "2"], "does not apply"),
    (["--host", "desktop-ddr4", "--offload", "layers:4", "--gpu-expert-cache", "8"], "offloaded MoE layers"),
], ids=["offload", "offload-n", "no-host", "compute", "host", "tp", "too-many", "price", "cache-layers"])
def test_bad_local_options(args, needle):
    result = runner.invoke(app, ["estimate", "qwen3-30b-a3b", "--gpu", "rtx2080", *args])
    assert result.exit_code == 2 and needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_local_needs_a_gpu():
    result = runner.invoke(app, ["estimate", "qwen3-30b-a3b", "--host", "desktop-ddr4"])
    assert result.exit_code == 2 and "--gpu" in result.stderr


def test_the_published_local_measurements():
    """Every public local case runs as one moecalc command (benchmarks/local_measurements.py) and
    the median predicted/measured speed is within [0.75, 1.33]."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "local_measurements.py"), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 12
    assert 0.75 <= statistics.median(r["ratio"] for r in rows) <= 1.33


# ---------------------------------------------------------------- GGUF files

def write_gguf(path: Path, arch: str = "qwen3moe") -> None:
    """A tiny GGUF of ``arch`` written with llama.cpp's gguf package: 2 layers, hidden 256, 4 heads
    of 64 (2 kv), 4 experts of 128 (2 a token), vocab 512; attention in F16, experts and
    embeddings in Q8_0, norms and router in F32."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFWriter
    from gguf.quants import quantize

    h, layers, vocab, heads, kv, hd, experts, width = 256, 2, 512, 4, 2, 64, 4, 128
    w = GGUFWriter(str(path), arch)
    w.add_block_count(layers), w.add_embedding_length(h), w.add_feed_forward_length(512)
    w.add_head_count(heads), w.add_head_count_kv(kv), w.add_key_length(hd), w.add_value_length(hd)
    w.add_expert_count(experts), w.add_expert_used_count(2), w.add_expert_feed_forward_length(width)
    w.add_vocab_size(vocab)
    rng = np.random.default_rng(0)

    def tensor(name, shape, kind=Q.F32):
        data = rng.standard_normal(shape).astype(np.float32)
        if kind == Q.F32:
            w.add_tensor(name, data)
        elif kind == Q.F16:
            w.add_tensor(name, data.astype(np.float16))
        else:
            packed = quantize(data, kind)
            w.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=kind)

    tensor("token_embd.weight", (vocab, h), Q.Q8_0)
    tensor("output.weight", (vocab, h), Q.Q8_0)
    tensor("output_norm.weight", (h,))
    tensor("rope_freqs.weight", (hd // 2,))                # llama.cpp's rope scaling: no weight
    for i in range(layers):
        p = f"blk.{i}."
        tensor(p + "attn_norm.weight", (h,)), tensor(p + "ffn_norm.weight", (h,))
        tensor(p + "attn_q.weight", (heads * hd, h), Q.F16), tensor(p + "attn_k.weight", (kv * hd, h), Q.F16)
        tensor(p + "attn_v.weight", (kv * hd, h), Q.F16), tensor(p + "attn_output.weight", (h, heads * hd), Q.F16)
        tensor(p + "attn_q_norm.weight", (hd,)), tensor(p + "attn_k_norm.weight", (hd,))
        tensor(p + "ffn_gate_inp.weight", (experts, h))
        for part in ("gate", "up"):
            tensor(p + f"ffn_{part}_exps.weight", (experts, width, h), Q.Q8_0)
        tensor(p + "ffn_down_exps.weight", (experts, h, width), Q.Q8_0)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()


def test_a_gguf_file_reads_back_exactly(tmp_path):
    """Its weight bytes are its tensors' bytes, component by component, to the byte; its parameters
    are its tensors' elements (the qwen3moe reader's count of the same shapes)."""
    pytest.importorskip("gguf")
    from gguf import GGUFReader

    from moecalc.spec.gguf_import import component

    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    tensors = [t for t in GGUFReader(str(path)).tensors if t.name != "rope_freqs.weight"]
    r = run(str(path))
    assert r["weights"]["bytes"] == sum(int(t.n_bytes) for t in tensors)
    assert r["params"]["total"] == sum(int(t.n_elements) for t in tensors) == 1_445_376
    for comp, got in r["weights"]["by_component"].items():
        assert got == sum(int(t.n_bytes) for t in tensors if component(t.name) == comp), comp
    assert r["model"]["family"] == "qwen3_moe" and "q8_0" in r["model"]["source"]
    local = run(str(path), "--gpu", "rtx4090", "--offload", "none")
    assert local["local"]["fits"] and local["perf"]["tokens_per_s_per_user"] > 0
    # a sweep of the file weighs its own tensors too, not the spec's label dtype
    swept = run_sweep(str(path), "--gpu", "h100", "--gpus", "1", "--batch", "1")
    assert swept["top"][0]["weights"]["bytes"] == r["weights"]["bytes"]


def test_bad_gguf_files(tmp_path):
    pytest.importorskip("gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file")
    other = tmp_path / "other.gguf"
    write_gguf(other, arch="mamba")
    for path, needle in ((junk, "not a readable GGUF"), (other, "architecture 'mamba'"),
                         (tmp_path / "missing.gguf", "no such file")):
        result = runner.invoke(app, ["estimate", str(path)])
        assert result.exit_code == 2 and needle in result.stderr and str(path) in result.stderr


def test_expert_cache_hit_rate_by_hand(tmp_path):
    """A token's k picks land in a cache of the N hottest experts with probability sum of their
    inclusion probabilities / k: uniform routing N / E; a measured load profile of 8 experts with
    counts 40, 30, 10, 10, 4, 3, 2, 1 (top-2) gives its two hottest 0.4 + 0.3 of the assignments
    (inclusion 0.8 and 0.6 of k = 2: (0.8 + 0.6) / 2 = 0.7)."""
    import numpy as np

    from moecalc.offload import cache_hit_rate

    assert cache_hit_rate(np.full(128, 8 / 128), 8, 32) == pytest.approx(0.25)
    assert cache_hit_rate(np.array([0.8, 0.6, 0.2, 0.2, 0.08, 0.06, 0.04, 0.02]), 2, 2) == pytest.approx(0.7)
    assert cache_hit_rate(np.full(8, 0.25), 2, 0) == 0.0
    base = ["qwen3-30b-a3b", "--weights-dtype", "q4_k_m", "--gpu", "rtx2080", "--host", "desktop-ddr4"]
    uniform = run(*base, "--gpu-expert-cache", "32")["local"]
    assert uniform["expert_cache_hit_rate"] == pytest.approx(0.25)
    plain = run(*base)["local"]
    skewed = run(*base, "--gpu-expert-cache", "32", "--routing", "zipf:1.2")
    assert skewed["local"]["expert_cache_hit_rate"] > 0.5
    per_expert = run(*base)["weights"]["by_component"]["routed_experts"] / 48 / 128
    n = skewed["local"]["offloaded_moe_layers"]
    assert skewed["local"]["decode_read_bytes"]["host"] == pytest.approx(
        n * (1 - skewed["local"]["expert_cache_hit_rate"]) * 8 * per_expert)
    assert skewed["perf"]["tokens_per_s_per_user"] > run(*base)["perf"]["tokens_per_s_per_user"]
    assert plain["expert_cache"] == 0


def test_whole_layers_on_the_cpu():
    """llama.cpp's -ngl: layers:N puts N of the 48 layers whole (an average layer's weights and its
    KV cache) in host memory; the GPU keeps the rest and the output layer (-ngl 48 - N + 1: llama.cpp
    counts the output layer as one). Offloading only experts frees
    the same GPU memory with fewer bytes moved to the slower side: at the same GPU footprint the
    expert placement decodes faster."""
    base = ["qwen3-30b-a3b", "--weights-dtype", "q4_k_m", "--gpu", "rtx2080", "--host", "desktop-ddr4"]
    r = run(*base, "--offload", "layers:40")
    lo, w = r["local"], r["weights"]["by_component"]
    body = r["weights"]["bytes"] - w["embedding"] - w["lm_head"]
    assert lo["cpu_layers"] == 40 and "-ngl 9 " in lo["runtime_flags"]["llama.cpp"] + " "
    assert lo["host_bytes"] == pytest.approx(w["embedding"] + 40 / 48 * (body + r["kv_cache"]["bytes"]))
    experts = run(*base)
    assert experts["local"]["fits"] and lo["fits"]
    assert experts["perf"]["tokens_per_s_per_user"] > r["perf"]["tokens_per_s_per_user"]
