"""The calibrated serving model: each mechanism by hand on round hardware, the two profiles, and
the committed fit held to the published measurements it was fitted on (tests/data/serving).

Hardware ROUND: 1e15 FLOP/s in every dtype unless said, 1e12 B/s HBM, links as in test_hand.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from moecalc.assumptions import Assumptions, with_overrides
from moecalc.calibration import BOUND, band, fitted, regime
from moecalc.engine.records import Hardware, Layout, Link
from moecalc.engine.results import Step
from moecalc.engine.routing import RoutingCache
from moecalc.estimate import Workload, model_scenario
from moecalc.hardware import hardware_record, load_catalog
from moecalc.spec.load import load

ROOT = Path(__file__).resolve().parent.parent
UP, OUT = Link(1e11, 1e-6, 1.0), Link(1e10, 1e-5, 1.0)
ROUND = Hardware(memory_capacity=1e12, hbm_bandwidth=1e12, peak_flops=1e15, scale_up=UP, scale_out=OUT,
                 price_per_hour=1.0)
NEUTRAL = Assumptions.for_profile("bound", mfu=1.0, hbm_efficiency=1.0, load_fluctuation=False)


def served(model: str, a: Assumptions = NEUTRAL, hardware: Hardware = ROUND, batch: int = 8, **layout):
    spec, _ = load(model)
    scenario, _, _, _ = model_scenario(spec, Workload(context=1024, batch=batch), a)
    return replace(scenario, layout=Layout(**layout), hardware=hardware).serve(cache=RoutingCache()), scenario


def test_step_with_an_overlap_share_and_an_overhead_by_hand():
    """compute 3, memory 2, communication 1, 4 stages, transfers 0.5, half the communication
    hidden: a stage takes max(3, 0.5 x 1) + 0.5 x 1 = 3.5, the step 4 x 3.5 + 0.5 = 14.5; with
    communication 5: max(3, 2.5) + 2.5 = 5.5 -> 22.5; an overhead of 0.25 a stage adds 4 x 0.25."""
    step = Step(compute=3.0, memory=2.0, communication=1.0, pipeline=0.5, stages=4, overlap=0.5)
    assert step.seconds == 14.5
    assert replace(step, communication=5.0).seconds == 22.5
    assert replace(step, overhead=0.25).seconds == 15.5
    assert replace(step, overhead=0.25).no_overlap_seconds == 4 * (3 + 1 + 0.25) + 0.5


def test_gemm_saturation_counts_the_rows_of_touched_experts_by_hand():
    """Mixtral-8x7B decode of 8 tokens on one GPU, peak 1e15 x MFU 1, half-saturation H = 30 rows.

    A dense GEMM sees M = 8 rows: s = 8 / 38. The 8 x 2 = 16 expert assignments land on the
    touched experts, 8 (1 - (1 - 2/8)^8) = 7.199 of them (expected loads), so an expert runs
    M_e = 16 / 7.199 = 2.2226 rows: s_e = 2.2226 / 32.2226. Attention's products are not GEMMs
    over the batch and stay at the peak:
      compute = 8 [dense / s + attention + routed / s_e] / 1e15
    with dense, attention and routed the decode FLOPs per token of each part."""
    bound, scenario = served("mixtral-8x7b")
    cal, _ = served("mixtral-8x7b", replace(NEUTRAL, gemm_half_rows=30.0))
    m, ev = scenario.model, scenario.evaluate()
    routed = 2.0 * m.params.active_by_component["routed_experts"]
    dense = float(ev.decode.matmul) - routed
    attention = float(ev.decode.attention)
    touched = 1 - (1 - 2 / 8) ** 8
    rows_e = 16 / (8 * touched)
    assert float(bound.routing.touched_fraction) == pytest.approx(touched)
    expected = 8 * (dense / (8 / 38) + attention + routed / (rows_e / (rows_e + 30))) / 1e15
    assert float(cal.decode.compute) == pytest.approx(expected, rel=1e-9)
    assert float(bound.decode.compute) == pytest.approx(8 * (dense + attention + routed) / 1e15, rel=1e-9)
    assert float(cal.decode.memory) == float(bound.decode.memory)


def test_expert_and_attention_efficiencies_and_their_own_peaks_by_hand():
    """Mixtral decode of 8 tokens: the other GEMMs at 2e15, attention's products at 0.5e15 with
    attention_efficiency 0.5, the experts at 1e15 with expert_efficiency 0.25 (MFU 1):
      compute = 8 [dense / 2e15 + attention / (0.5e15 x 0.5) + routed / (1e15 x 0.25)]."""
    hw = replace(ROUND, dense_peak_flops=2e15, attention_peak_flops=0.5e15)
    a = replace(NEUTRAL, expert_efficiency=0.25, attention_efficiency=0.5)
    cal, scenario = served("mixtral-8x7b", a, hw)
    m, ev = scenario.model, scenario.evaluate()
    routed = 2.0 * m.params.active_by_component["routed_experts"]
    dense, attention = float(ev.decode.matmul) - routed, float(ev.decode.attention)
    expected = 8 * (dense / 2e15 + attention / 0.25e15 + routed / 0.25e15)
    assert float(cal.decode.compute) == pytest.approx(expected, rel=1e-9)


def test_layer_overhead_and_stack_efficiency_by_hand():
    """Mixtral has 32 layers: 100 us a layer adds 3.2 ms to one forward (decode) on one stage;
    on PP2 each stage runs its 16 layers in turn, 2 x 1.6 ms. A stack efficiency of 0.5 halves
    every achieved rate: compute and memory times double."""
    plain, _ = served("mixtral-8x7b")
    slow, _ = served("mixtral-8x7b", replace(NEUTRAL, layer_overhead_us=100.0))
    assert float(slow.decode.overhead) == pytest.approx(3.2e-3)
    assert float(slow.decode.seconds) == pytest.approx(float(plain.decode.seconds) + 3.2e-3, rel=1e-12)
    staged, _ = served("mixtral-8x7b", replace(NEUTRAL, layer_overhead_us=100.0), pp=2)
    assert float(staged.decode.overhead) == pytest.approx(1.6e-3) and float(staged.decode.stages) == 2
    halved, _ = served("mixtral-8x7b", hardware=replace(ROUND, stack_efficiency=0.5))
    assert float(halved.decode.compute) == pytest.approx(2 * float(plain.decode.compute), rel=1e-12)
    assert float(halved.decode.memory) == pytest.approx(2 * float(plain.decode.memory), rel=1e-12)


def test_compute_dtypes_of_a_mixed_checkpoint():
    """NVIDIA's DeepSeek-R1 FP4 recipe on B200: NVFP4 experts at the FP4 peak, attention (the
    largest other component, BF16) at the BF16 peak, attention's products at BF16; DeepSeek-V3's
    own FP8 on H200: the other GEMMs FP8 too. The bound prices all at the experts' peak."""
    spec, _ = load("deepseek-v3")
    catalog = load_catalog()
    recipe = "routed_experts=nvfp4,shared_experts=nvfp4,dense_ffn=nvfp4,attention=bf16"
    for gpu, weights, expected in (("b200", recipe, ("fp4", "bf16", "bf16")), ("h200", None, ("fp8", "fp8", "bf16"))):
        _, acc = catalog.gpu(gpu)
        for profile in ("calibrated", "bound"):
            a = Assumptions.for_profile(profile)
            _, _, _, dtypes = model_scenario(spec, Workload(weights_dtype=weights), a)
            hw, described = hardware_record(acc, catalog, dtypes, a)
            got = (described["compute_dtype"], described["dense_compute_dtype"], described["attention_compute_dtype"])
            assert got == (expected if profile == "calibrated" else (expected[0],) * 3)
            assert hw.attention_peak == acc.peak_flops(got[2]) and hw.dense_peak == acc.peak_flops(got[1])


def test_profiles_and_the_overlap_words():
    """profile=bound resets every fitted constant to the roofline's values, keeps what is given
    with it, and comm_overlap=tbo means the fitted two-batch-overlap share (1 on the bound)."""
    cal = Assumptions()
    assert {k: getattr(cal, k) for k in BOUND} == fitted()
    bound = with_overrides(cal, ["profile=bound", "mfu=0.5"])
    assert bound.profile == "bound" and bound.mfu == 0.5 and bound.layer_overhead_us == 0
    assert bound.expert_efficiency == 1 and bound.hbm_efficiency == 0.85
    assert with_overrides(cal, ["comm_overlap=tbo"]).comm_overlap == fitted()["tbo_overlap"]
    assert with_overrides(cal, ["comm_overlap=tbo", "profile=bound"]).comm_overlap == 1.0
    assert with_overrides(cal, ["comm_overlap=0.25"]).comm_overlap == 0.25
    assert with_overrides(cal, ["comm_overlap=false"]).comm_overlap == 0.0


def test_an_amd_gpu_gets_the_stack_factor():
    catalog = load_catalog()
    a = Assumptions()
    amd, _ = hardware_record(catalog.gpu("mi300x")[1], catalog, "fp8", a)
    nvidia, _ = hardware_record(catalog.gpu("h100")[1], catalog, "fp8", a)
    assert amd.stack_efficiency == a.rocm_efficiency < 1 and nvidia.stack_efficiency == 1.0
    bound, _ = hardware_record(catalog.gpu("mi300x")[1], catalog, "fp8", Assumptions.for_profile("bound"))
    assert bound.stack_efficiency == 1.0


def test_bands_bracket_the_prediction():
    """A speed's range is speed x (lo, hi) of its regime with lo <= 1 <= hi; a time's is inverted."""
    from moecalc.cli import app
    from typer.testing import CliRunner

    for mode, batch, name in ((None, 1, "batch-1"), ("prefill", 64, "prefill"), ("continuous", 64, "decode")):
        assert regime(mode, batch) == name
        lo, hi = band(name)
        assert lo <= 1 <= hi
    out = json.loads(CliRunner().invoke(app, ["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "64", "--isl",
                                              "1024", "--osl", "1024", "-f", "json"]).stdout)
    lo, hi = band("decode")
    assert out["perf"]["model"] == "calibrated" and out["perf"]["band_regime"] == "decode"
    assert out["perf"]["tpot_seconds_range"] == pytest.approx([out["perf"]["tpot_seconds"] / hi,
                                                              out["perf"]["tpot_seconds"] / lo])
    assert out["perf"]["tokens_per_s_per_gpu_range"] == pytest.approx([out["perf"]["tokens_per_s_per_gpu"] * lo,
                                                                      out["perf"]["tokens_per_s_per_gpu"] * hi])
    c = out["cost"]
    assert c["usd_per_million_output_tokens_range"][0] <= c["usd_per_million_output_tokens"] <= \
        c["usd_per_million_output_tokens_range"][1]
    bound = json.loads(CliRunner().invoke(app, ["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "64",
                                                "--assume", "profile=bound", "-f", "json"]).stdout)
    assert bound["perf"]["model"] == "bound" and bound["perf"]["tpot_seconds_range"] is None


# ---------------------------------------------------------------- the fit, held to the measurements

@pytest.fixture(scope="module")
def committed():
    return json.loads((ROOT / "moecalc" / "data" / "calibration.json").read_text())


@pytest.fixture(scope="module")
def cases():
    sys.path.insert(0, str(ROOT / "tools"))
    from measurements import load as load_cases

    return load_cases()


def test_committed_residuals_are_what_the_cli_predicts_now(committed, cases):
    """Every case through the CLI at the committed constants gives the committed prediction: the
    residual table in docs/method/calibration.md is the code's, not a stale fit's."""
    from moecalc.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    rows = {r["id"]: r for r in committed["cases"]}
    assert set(rows) == {c.id for c in cases} and len(cases) == 29
    for case in cases:
        out = json.loads(runner.invoke(app, case.argv() + ["--format", "json"]).stdout)
        key = {"tpot": "tpot_seconds", "ttft": "ttft_seconds"}.get(case.attribute, case.attribute)
        assert out["perf"][key] == pytest.approx(rows[case.id]["predicted"], rel=1e-6), case.id
        assert out["perf"]["model"] == "calibrated"


def test_the_fit_meets_its_targets_on_the_published_measurements(committed):
    """Median predicted/measured speed in [0.9, 1.1]; 80% of cases within [0.75, 1.33]; the dense
    controls within 25%; left out one source at a time, the median stays in [0.8, 1.25]; the
    bound is the ~1.9x optimistic roofline it was."""
    rows = committed["cases"]
    ratios = [r["ratio"] for r in rows]
    assert 0.9 <= statistics.median(ratios) <= 1.1
    assert sum(0.75 <= r <= 1.33 for r in ratios) >= 0.8 * len(rows)
    assert all(0.75 <= r["ratio"] <= 1.25 for r in rows if r["dense"])
    assert 0.8 <= statistics.median(r["ratio_held_out"] for r in rows) <= 1.25
    assert statistics.median(r["ratio_bound"] for r in rows) > 1.5
    for name, value in committed["constants"].items():
        lo, hi = committed["box"][name]
        assert lo <= value <= hi


def test_fitted_constants_are_physical(committed):
    """Each constant means something and sits where that meaning allows: efficiencies below 1,
    a launch floor of tens to hundreds of microseconds per layer, a GEMM tile of rows."""
    c = committed["constants"]
    assert 0.2 <= c["mfu"] <= 0.9 and 0.5 <= c["hbm_efficiency"] <= 0.95
    assert 0 < c["expert_efficiency"] <= 1 and 0 < c["attention_efficiency"] <= 1
    assert 1 <= c["gemm_half_rows"] <= 256 and 0 <= c["layer_overhead_us"] <= 200
    assert np.isfinite(list(c.values())).all()


def test_low_latency_all_to_all_by_hand():
    """DeepSeek-V3 (k = 8) on EP16 over two nodes of 8: the low-latency kernels send a copy per
    routed expert, 8 x 7/16 = 3.5 of them inside the node and 8 x 8/16 = 4 to the other node,
    each (1 + 4/128) + 2 bytes per value of a 7168-wide hidden state (fp8 with a scale per 128,
    bf16 back): 7.5 x 3.03125 x 7168 = 162,960 B per token and layer. The normal kernels cross
    to the other node at most once and forward inside it, so they carry fewer bytes."""
    from moecalc.engine.alltoall import low_latency_copies
    from moecalc.cli import app
    from typer.testing import CliRunner

    up, out = low_latency_copies(8, 16, 8)
    assert (float(up), float(out)) == (3.5, 4.0)
    assert [float(x) for x in low_latency_copies(8, 8, 8)] == [7.0, 0.0]
    base = ["estimate", "deepseek-v3", "--gpu", "h100", "--gpus", "16", "--tp", "1", "--dp", "16", "--ep", "16",
            "--batch", "256", "-f", "json"]
    runner = CliRunner()
    ll = json.loads(runner.invoke(app, base).stdout)["comm"]
    normal = json.loads(runner.invoke(app, base + ["--assume", "a2a_kernel=normal"]).stdout)["comm"]
    assert ll["a2a_kernel"] == "low-latency" and normal["a2a_kernel"] == "normal"
    assert ll["a2a_bytes_per_token_layer"] == pytest.approx(7.5 * (1 + 4 / 128 + 2) * 7168)
    assert normal["a2a_bytes_per_token_layer"] < ll["a2a_bytes_per_token_layer"]
    assert ll["a2a_seconds_per_layer"] > normal["a2a_seconds_per_layer"]


@pytest.mark.parametrize("ep, dispatch_us, combine_us", [(16, 118, 195), (32, 155, 273), (64, 173, 314),
                                                         (128, 192, 369), (256, 194, 360)])
def test_low_latency_kernels_reproduce_deepeps_table(ep, dispatch_us, combine_us):
    """DeepEP's published low-latency kernels (docs/legacy.md, H800 + CX7 400G, 128 tokens a
    rank, hidden 7168, top-8, FP8 dispatch, BF16 combine) against moecalc's copies over the
    H800 profile's NIC (50 GB/s at the bundled scale-out efficiency 0.8, 5 us a message):
    t = 128 x 8 (EP - 8)/EP x 7168 x bytes / 40 GB/s + 5 us, within 20% of every entry."""
    from moecalc.engine.alltoall import alltoall_seconds, low_latency_copies

    catalog = load_catalog()
    acc = catalog.gpu("h800")[1]
    nic = catalog.link(acc.scale_out, kind="scale-out")
    link = Link(nic.bytes_per_s, nic.latency_s, Assumptions().scaleout_efficiency)
    _, copies = low_latency_copies(8, ep, 8)
    for per_value, measured in ((1 + 4 / 128, dispatch_us), (2.0, combine_us)):
        one = float(alltoall_seconds(128, copies, 7168 * per_value, link)) - nic.latency_s   # one message
        assert one == pytest.approx(measured * 1e-6, rel=0.2)
