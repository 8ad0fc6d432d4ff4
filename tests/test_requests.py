"""Request workloads (``engine.requests``): each mode's composition of forward steps, by hand on
a linear stand-in for the roofline, then the real engine on bundled models for the identities
the modes must keep, then the options' errors.

The stand-in step: compute = 1 ms per decode token + 0.1 ms per prompt token, memory = 2 ms per
forward pass (weights read), no communication; a step takes max(compute, memory)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import check_result
from moecalc.cli import app
from moecalc.engine.records import Layout, Runtime
from moecalc.engine.requests import Requests, serve_requests
from moecalc.engine.results import Step

runner = CliRunner()


class LinearForward:
    def __init__(self, batch=8, chunk=8192, layers=4):
        self.layout = Layout(tp=1, dp=1, pp=1)
        self.runtime = Runtime(prefill_chunk_tokens=chunk)
        self.m = SimpleNamespace(num_layers=layers)
        self.ev = SimpleNamespace(workload=SimpleNamespace(batch=batch))
        self.nodes = 1

    def step(self, decode, decode_group, decode_context, prefill, prefill_group, prefill_context, imbalance, touched,
             forwards=1.0):
        s = Step(compute=1e-3 * np.asarray(decode) + 1e-4 * np.asarray(prefill), memory=2e-3 * np.asarray(forwards),
                 communication=0.0, pipeline=0.0, stages=1, overlap=False)
        return s, 0.0, 0.0


class EvenRouter:
    def terms(self, *args):
        return SimpleNamespace(imbalance=1.0, prefill_imbalance=1.0, touched_fraction=1.0)


def run(mode, isl=1000, osl=100, batch=8, chunk=8192, **kw):
    return serve_requests(LinearForward(batch, chunk), Requests(isl=isl, osl=osl, mode=mode, **kw), EvenRouter(),
                          None, usd_per_second=1.0)


def test_continuous_by_hand():
    """b = 8, ISL/OSL = 10: the throughput step carries 8 x 10 = 80 prompt tokens (8 + 8 ms =
    16 ms: 500 tokens/s, 5,000 prompt tokens/s); the step a request sees carries the other 7's
    70 (15 ms = TPOT); TTFT = half a step of waiting (7.5 ms) + its 1,000-token prompt in one
    chunk next to 7 decoding sequences (7 + 100 ms); decode alone is 8 ms, so prefill is half
    the GPU time."""
    r = run("continuous")
    assert float(r.tpot) == pytest.approx(15e-3)
    assert float(r.tokens_per_s) == pytest.approx(500)
    assert float(r.input_tokens_per_s) == pytest.approx(5000)
    assert float(r.ttft) == pytest.approx(7.5e-3 + 107e-3)
    assert float(r.prefill_share) == pytest.approx(0.5)
    assert float(r.usd_per_million_output_tokens) == pytest.approx(1e6 / 500)
    assert float(r.usd_per_request) == pytest.approx(1 / 5)           # 5 requests/s
    assert float(r.usd_per_million_tokens) == pytest.approx(1e6 / 5500)
    assert float(r.split_input_usd_per_million) == pytest.approx(0.5 * 1e6 / 5000)
    assert float(r.request_latency) == pytest.approx(114.5e-3 + 99 * 15e-3)


def test_continuous_chunks_by_hand():
    """ISL/OSL = 100 with 100-token forward passes: the step's 8 + 800 tokens take 9 passes
    (compute 88 ms > memory 18 ms); a prompt gets 100 - 7 = 93 tokens a pass, 11 chunks of
    7 + 9.3 = 16.3 ms; the step it waits on carries 7 x 100 = 700 (8 passes, 78 ms)."""
    r = run("continuous", isl=1000, osl=10, chunk=100)
    assert float(r.tokens_per_s) == pytest.approx(8 / 88e-3)
    assert float(r.ttft) == pytest.approx(39e-3 + 11 * 16.3e-3)


def test_static_against_its_closed_form():
    """8 prompts of 1,000 in one pass: 800 ms (TTFT); then 99 decode steps of 8 ms:
    8 x 100 / (0.8 + 0.792) output tokens/s."""
    r = run("static")
    assert float(r.ttft) == pytest.approx(0.8)
    assert float(r.tpot) == pytest.approx(8e-3)
    assert float(r.tokens_per_s) == pytest.approx(800 / 1.592)
    assert float(r.prefill_share) == pytest.approx(0.8 / 1.592)


def test_pools_by_hand():
    """Prefill pool: 8 x 1,000 tokens in one pass of 800 ms: 10,000 prompt tokens/s, no output
    rate. Decode pool: 8 sequences, 8 ms a step: 1,000 tokens/s, no TTFT."""
    p = run("prefill")
    assert float(p.input_tokens_per_s) == pytest.approx(10_000) and np.isnan(p.tokens_per_s)
    d = run("decode")
    assert float(d.tokens_per_s) == pytest.approx(1000) and np.isnan(d.ttft)


def test_mtp_tokens_per_step_by_hand():
    """N = 2 drafts at P = 0.5: tau = 1 + 0.5 + 0.25 = 1.75 tokens a step; each step verifies 3
    tokens per sequence (24 ms) and drafts twice at a layer's share of a one-token step
    (2 x 8 ms / 4 layers = 4 ms): TPOT = 28 / 1.75 = 16 ms, 8 x 1.75 / 28 ms = 500 tokens/s."""
    r = run("decode", mtp_tokens=2, mtp_acceptance=0.5)
    assert float(r.tokens_per_step) == pytest.approx(1.75)
    assert float(r.tpot) == pytest.approx(16e-3)
    assert float(r.tokens_per_s) == pytest.approx(500)
    assert float(Requests(1, 1, mtp_tokens=3, mtp_acceptance=1.0).tokens_per_step) == 4


# --------------------------------------------------------------------------- the real engine


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def as_json(*args) -> dict:
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_single_request_sees_no_prefill_stall():
    """At batch 1 continuous serving has no other prompt: TPOT is the decode step at ISL + OSL/2,
    the decode pool's TPOT at that context."""
    alone = as_json("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--isl", "1000", "--osl", "200")
    pool = as_json("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--mode", "decode", "--context", "1100")
    assert alone["perf"]["tpot_seconds"] == pytest.approx(pool["perf"]["tpot_seconds"], rel=1e-12)
    assert alone["workload"]["context"] == 1100


def test_prefill_is_charged_to_output_tokens():
    """The README's top sweep row, DeepSeek-V3 on 4 x MI325X at batch 1024: decode only it
    was $0.101/Mtok; as requests of 3,584 + 512 tokens the prompts' prefill costs GPU time too,
    at least 3x as much per output token (both on the roofline the row was priced on)."""
    base = ["estimate", "deepseek-v3", "--gpu", "mi325x", "--gpus", "4", "--tp", "1", "--ep", "4", "--dp", "4",
            "--batch", "1024", "--kv-dtype", "fp8", "--assume", "profile=bound"]
    decode = as_json(*base)["cost"]["usd_per_million_output_tokens"]
    requests = as_json(*base, "--isl", "3584", "--osl", "512")["cost"]
    assert requests["usd_per_million_output_tokens"] >= 3 * decode
    assert 0 < requests["prefill_share"] < 1


def test_per_component_weight_dtypes():
    """NVFP4 experts with BF16 attention: the experts take 4.5 bits (scales included), the
    attention 16; the rest keeps the spec's fp8."""
    r = as_json("estimate", "deepseek-v3", "--weights-dtype", "routed_experts=nvfp4,attention=bf16")
    p, w = r["params"]["by_component"], r["weights"]["by_component"]
    assert w["attention"] == pytest.approx(p["attention"] * 2, rel=1e-3)
    assert w["routed_experts"] == pytest.approx(p["routed_experts"] * 4.5 / 8, rel=1e-3)
    assert r["weights"]["dtype"] == "routed_experts=nvfp4,attention=bf16"


def test_fit_is_honest():
    """No speed or cost for what does not fit; a partial layout searches the GPU count; 4 x
    B200 at 191.3 GB per GPU is over the 0.9 headroom of 192 GB."""
    r = as_json("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "1")
    assert r["memory"]["fits"] is False and r["perf"]["tpot_seconds"] is None
    assert r["cost"]["usd_per_million_output_tokens"] is None
    assert any("does not fit" in w for w in r["warnings"])
    tp4 = as_json("estimate", "deepseek-v3", "--gpu", "h100", "--tp", "4")
    assert tp4["memory"]["fits"] and tp4["deployment"]["tp"] == 4 and tp4["deployment"]["gpus"] > 4
    assert as_json("estimate", "deepseek-v3", "--gpu", "b200", "--gpus", "4", "--batch", "64")["memory"]["fits"] is False


@pytest.mark.parametrize("args,needles", [
    (["--isl", "100", "--osl", "0"], ["'--osl'", "at least 1"]),
    (["--isl", "-5", "--osl", "10"], ["'--isl'"]),
    (["--mode", "batchy", "--isl", "10", "--osl", "10"], ["'--mode'", "continuous"]),
    (["--mode", "static", "--isl", "10"], ["'--osl'", "needs --isl and --osl"]),
    (["--isl", "10", "--osl", "10", "--context", "4k"], ["'--context'", "not both"]),
    (["--isl", "10", "--osl", "10", "--mtp-acceptance", "1.5"], ["'--mtp-acceptance'"]),
    (["--weights-dtype", "experts=nvfp4"], ["'--weights-dtype'", "COMPONENT=DTYPE"]),
], ids=["osl-zero", "isl-negative", "unknown-mode", "static-without-osl", "context-and-isl", "acceptance",
        "unknown-component"])
def test_bad_request_options(args, needles):
    check_result(invoke("estimate", "mixtral-8x7b", "--gpu", "h100", *args), *needles)


def test_mtp_needs_mtp_modules():
    check_result(invoke("estimate", "mixtral-8x7b", "--gpu", "h100", "--isl", "10", "--osl", "10", "--mtp", "2"),
                 "'--mtp'", "no MTP modules")
    r = as_json("estimate", "deepseek-v3", "--gpu", "h200", "--isl", "1024", "--osl", "1024", "--mtp", "3")
    assert r["perf"]["tokens_per_step"] == pytest.approx(1 + 0.85 + 0.85**2 + 0.85**3)


# --------------------------------------------------------------------------- sweeps of requests


SWEEP = ["sweep", "mixtral-8x7b", "--gpu", "h100,h200", "--gpus", "1,2,4", "--batch", "8,64,256", "--isl", "1024",
         "--osl", "256,1024"]


def test_sweep_rows_are_the_estimates_of_their_requests():
    """Every reported row of a request sweep is the estimate of its command (the top row's
    command reproduces it exactly), ranked by the all-in $/Mtok."""
    out = as_json(*SWEEP, "--top", "3")
    assert out["top"] and all(r["workload"]["mode"] == "continuous" for r in out["top"])
    costs = [r["cost"]["usd_per_million_output_tokens"] for r in out["top"]]
    assert costs == sorted(costs)
    cmd = out["top_command"].split()[1:]
    again = as_json(*cmd)
    assert again["cost"]["usd_per_million_output_tokens"] == pytest.approx(costs[0], rel=1e-12)
    assert "--isl 1024" in out["top_command"] and "--context" not in out["top_command"]


def test_sweep_under_slas():
    """--min-tokens-per-user keeps rows a request sees fast enough; --max-ttft-ms is the loaded
    TTFT; request-cost ranks by $/request; the interactivity frontier trades per-GPU for
    per-user rate (one falls as the other rises)."""
    out = as_json(*SWEEP, "--min-tokens-per-user", "40", "--max-ttft-ms", "500", "--objective", "request-cost")
    for r in out["top"]:
        assert r["perf"]["tokens_per_s_per_user"] >= 40 and r["perf"]["ttft_seconds"] <= 0.5
    per_request = [r["cost"]["usd_per_request"] for r in out["top"]]
    assert per_request == sorted(per_request)
    frontier = out["interactivity"]
    users = [p["tokens_per_s_per_user"] for p in frontier]
    gpus = [p["tokens_per_s_per_gpu"] for p in frontier]
    assert len(frontier) > 1 and users == sorted(users, reverse=True) and gpus == sorted(gpus)


def test_sweep_table_fits_80_columns():
    result = runner.invoke(app, SWEEP + ["--weights-dtype", "bf16,fp8"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    widths = [len(line) for line in result.stdout.splitlines()
              if "│" not in line and not line.startswith(("reproduce", "moecalc "))]   # (a command: one line)
    assert max(widths) <= 80
    # rich keeps within 80 by cutting cells with an ellipsis: no cell, header or layout is cut
    table = result.stdout.split("configurations evaluated")[0]
    assert "…" not in table and "$/Mtok" in table and "tok/s/GPU" in table
    for r in as_json(*SWEEP, "--weights-dtype", "bf16,fp8")["top"]:
        assert f"{r['cost']['usd_per_million_output_tokens']:.3f}"[:4] in table


def test_sweep_takes_a_per_component_dtype_as_one_alternative():
    out = as_json("sweep", "deepseek-v3", "--gpu", "b200", "--gpus", "8", "--tp", "1", "--batch", "64",
                  "--isl", "1024", "--osl", "1024", "--weights-dtype", "routed_experts=nvfp4,attention=bf16")
    assert out["top"][0]["workload"]["weights_dtype"] == "routed_experts=nvfp4,attention=bf16"


# --------------------------------------------------------------------------- disaggregated


DISAGG = ["estimate", "deepseek-v3", "--gpu", "h100", "--gpus", "32", "--tp", "1", "--ep", "32", "--dp", "32",
          "--batch", "2048", "--isl", "2000", "--osl", "500", "--mode", "disaggregated", "--prefill-gpus", "16",
          "--prefill-tp", "1", "--prefill-ep", "16", "--prefill-dp", "16"]


def test_disaggregated_pool_ratio_by_its_definition():
    """x prefill and y decode instances serve min(x R_p, y R_d) requests/s; the pool ratio is
    R_d / R_p; xPyD the smallest integers whose prefill keeps up; per-GPU rates over both pools;
    TTFT the prefill forward plus the KV transfer; TPOT the decode pool's."""
    r = as_json(*DISAGG)
    pools, pre, dec = r["pools"], r["pools"]["prefill"], r["pools"]["decode"]
    ratio = dec["requests_per_s"] / pre["requests_per_s"]
    assert pools["prefill_per_decode"] == pytest.approx(ratio)
    x, y = pools["prefill_instances"], pools["decode_instances"]
    assert x * pre["requests_per_s"] >= y * dec["requests_per_s"] * (1 - 1e-9)
    assert (x - 1) * pre["requests_per_s"] < y * dec["requests_per_s"] or x == 1
    gpus = x * pre["gpus"] + y * dec["gpus"]
    rate = min(x * pre["requests_per_s"], y * dec["requests_per_s"])
    assert r["perf"]["tokens_per_s_per_gpu"] == pytest.approx(rate * 500 / gpus)
    assert r["perf"]["ttft_seconds"] == pytest.approx(pre["ttft_seconds"] + pools["kv_transfer_seconds"])
    assert r["perf"]["tpot_seconds"] == pytest.approx(dec["tpot_seconds"])
    usd = (x * pre["usd_per_hour"] + y * dec["usd_per_hour"]) / 3600
    assert r["cost"]["usd_per_million_output_tokens"] == pytest.approx(usd / (rate * 500) * 1e6)
    # the KV of one 2,000-token prompt (70,272 B a token) over 16 x 50 GB/s x 0.8
    assert pools["kv_transfer_seconds"] == pytest.approx(2000 * 70272 / (16 * 50e9 * 0.8) + 5e-6, rel=1e-6)
    # the ranges belong to the joined figures, not to the decode pool's alone
    for section, key in (("perf", "tokens_per_s_per_gpu"), ("perf", "ttft_seconds"),
                         ("cost", "usd_per_million_output_tokens")):
        lo, hi = r[section][key + "_range"]
        assert lo <= r[section][key] <= hi


@pytest.mark.parametrize("args,needles", [
    (["--mode", "disaggregated"], ["'--prefill-gpus'", "prefill pool"]),
    (["--prefill-gpus", "8"], ["'--prefill-gpus'", "needs --mode disaggregated"]),
], ids=["without-prefill-pool", "pool-without-mode"])
def test_bad_disaggregated_options(args, needles):
    check_result(invoke("estimate", "deepseek-v3", "--gpu", "h100", "--isl", "100", "--osl", "10", *args), *needles)
