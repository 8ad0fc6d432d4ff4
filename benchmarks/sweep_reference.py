#!/usr/bin/env python3
"""The reference DeepSeek-V3 sweep end to end, and how rates scale (figures, never pass/fail).

1. The reference sweep (8 GPU types, 1..1024 GPUs, TP 1..8, EP 1..256, 128 batches, 5 contexts,
   2 x 2 dtypes: 8.1M configurations) as a user runs it: ``moecalc sweep ... --format json`` in
   a fresh process, cold (an empty moecalc cache) and warm (the cache the cold run left: the
   catalog, the spec and the solved routing terms). Wall seconds from process start,
   enumerated configurations per second, peak resident memory; and whether its top 10 and its
   cost-latency frontier are the rows moecalc found before the speed-ups
   (benchmarks/reference_sweep_rows.json).
2. Scaling: the same model over growing batch, context and dtype axes, about 1e5, 1e6, 1e7
   and 1e8 configurations, cold.
3. ``estimate deepseek-v3 --gpu h200 --format json`` against its bare imports (numpy, pydantic,
   yaml, rich, typer), warm cache, minimum and median of N runs.
4. llm-analysis's per-call rate, when it is installed (it does one configuration a call).

Usage: python benchmarks/sweep_reference.py [--runs N] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REFERENCE = json.loads((ROOT / "reference_sweep_rows.json").read_text())
ARGS = REFERENCE["command"].split()[1:]            # drop "moecalc"


def moecalc(args: list[str], cache_dir: str) -> tuple[float, float, str]:
    """(wall seconds, peak resident MiB, stdout) of one moecalc process."""
    env = {**os.environ, "MOECALC_CACHE_DIR": cache_dir}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "moecalc", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, out


def rows(result: dict, key: str) -> list:
    out = []
    for r in result[key]:
        d, w = r["deployment"], r["workload"]
        out.append([d["gpu"], d["gpus"], d["tp"], d["ep"], d["dp"], d["pp"], w["batch"], w["context"],
                    w["weights_dtype"], w["kv_dtype"], r["cost"]["usd_per_million_output_tokens"],
                    r["perf"]["tpot_seconds"]])
    return out


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x[:10] == y[:10] and all(abs(p - q) <= 1e-9 * abs(q) for p, q in zip(x[10:], y[10:]))
                                    for x, y in zip(a, b))


def reference(runs: int) -> float:
    print("1. the reference sweep:", " ".join(["moecalc", *ARGS]))
    rates = {}
    for phase in ("cold", "warm"):
        walls, peaks = [], []
        for i in range(runs):
            if phase == "cold":
                cache = tempfile.mkdtemp(prefix="moecalc-bench-")
            elif i == 0:
                cache = tempfile.mkdtemp(prefix="moecalc-bench-")
                moecalc(ARGS, cache)                           # fills the cache
            wall, peak, out = moecalc(ARGS, cache)
            walls.append(wall)
            peaks.append(peak)
        result = json.loads(out)
        s = result["summary"]
        n = s["configs_enumerated"]
        rates[phase] = n / min(walls)
        print(f"   {phase}: {min(walls):.2f} s wall (median {statistics.median(walls):.2f} s of {runs}), "
              f"{n / min(walls):,.0f} enumerated configurations/s end to end; peak RSS {max(peaks):,.0f} MiB")
    print(f"   {n:,} enumerated, {s['configs_evaluated']:,} evaluated, pruned {s['configs_pruned']}, "
          f"{s['feasible']:,} feasible; engine alone {s['seconds']:.2f} s")
    print(f"   top 10 as before: {same(rows(result, 'top'), REFERENCE['top'])}; "
          f"frontier as before: {same(rows(result, 'pareto'), REFERENCE['pareto'])} "
          f"({s['pareto_points']} points, before {REFERENCE['pareto_points']}); "
          f"feasible as before: {s['feasible'] == REFERENCE['feasible']}")
    return rates["cold"]


def scaling(skip_large: bool) -> None:
    print("2. scaling (DeepSeek-V3, 8 GPU types, TP 1..8, EP 1..256, 1..1024 GPUs; cold):")
    base = ["sweep", "deepseek-v3", "--gpu", "h100,h200,b200,gb200,mi300x,mi325x,mi355x,b300", "--gpus", "1..1024",
            "--tp", "1..8", "--ep", "1..256", "--format", "json"]
    sizes = [["--batch", "1:32:1", "--context", "4k"],                                           # ~1e5
             ["--batch", "1:64:1", "--context", "1k,2k,4k,8k,16k"],                             # ~1e6
             ["--batch", "1:128:1", "--context", "1k,2k,4k,8k,16k", "--weights-dtype", "fp8,bf16",
              "--kv-dtype", "bf16,fp8"],                                                         # ~1e7
             ["--batch", "1:1024:1", "--context", "1k,2k,4k,8k,16k,32k,64k,128k", "--weights-dtype", "fp8,bf16",
              "--kv-dtype", "bf16,fp8"]]                                                         # ~1e8
    for extra in sizes[: 3 if skip_large else 4]:
        wall, peak, out = moecalc([*base, *extra], tempfile.mkdtemp())
        s = json.loads(out)["summary"]
        n = s["configs_enumerated"]
        print(f"   {n:>13,} configurations: {wall:6.2f} s, {n / wall:>12,.0f}/s, peak RSS {peak:,.0f} MiB")


def startup(runs: int) -> None:
    def once(cmd):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - t0

    bare_cmd = [sys.executable, "-c", "import numpy, pydantic, yaml, rich, typer"]
    cmd = [sys.executable, "-m", "moecalc", "estimate", "deepseek-v3", "--gpu", "h200", "--format", "json"]
    once(cmd)                                                                   # warm the cache
    bare, est = [], []
    for _ in range(max(runs, 7)):       # interleaved: this machine's speed drifts between runs
        bare.append(once(bare_cmd))
        est.append(once(cmd))
    b, e = (min(bare), statistics.median(bare)), (min(est), statistics.median(est))
    print(f"3. estimate deepseek-v3 --gpu h200 --format json: {e[0] * 1e3:.0f} ms (median {e[1] * 1e3:.0f}) "
          f"against bare imports {b[0] * 1e3:.0f} ms (median {b[1] * 1e3:.0f}), {len(est)} runs of each "
          f"interleaved: {e[0] / b[0]:.2f}x (median {e[1] / b[1]:.2f}x)")


LLM_ANALYSIS = """
import time, warnings
warnings.filterwarnings("ignore")
from llm_analysis.analysis import infer
infer(model_name="facebook_opt-1.3b", gpu_name="a100-sxm-80gb", log_level="ERROR")
n, t = 0, time.perf_counter()
for b in (1, 2, 4, 8, 16, 32, 64, 128):
    for tp in (1, 2, 4, 8):
        for s in (512, 1024, 2048):
            infer(model_name="facebook_opt-1.3b", gpu_name="a100-sxm-80gb", tp_size=tp, batch_size_per_gpu=b,
                  seq_len=s, log_level="ERROR")
            n += 1
print(f"{n / (time.perf_counter() - t):.0f}")
"""


def llm_analysis(python: str | None, sweep_rate: float) -> None:
    """llm-analysis (pip install llm-analysis; it pulls transformers, so best in its own venv,
    given with --llm-analysis-python or LLM_ANALYSIS_PYTHON) analyses one configuration a call."""
    exe = python or os.environ.get("LLM_ANALYSIS_PYTHON") or sys.executable
    run = subprocess.run([exe, "-c", LLM_ANALYSIS], capture_output=True, text=True)
    if run.returncode != 0:
        print("4. llm-analysis: not importable by", exe, "(--llm-analysis-python PATH or LLM_ANALYSIS_PYTHON: "
              "a venv that has it)")
        return
    rate = float(run.stdout.strip().splitlines()[-1])
    one = subprocess.run([sys.executable, "-c", "import time, moecalc.estimate as e, moecalc.spec.load as l, "
                          "moecalc.deployment as d, moecalc.hardware as h\n"
                          "s, lab = l.load('llama-3.1-8b'); c = h.load_catalog(); n, t = 0, time.perf_counter()\n"
                          "for b in (1, 2, 4, 8, 16, 32, 64, 128):\n"
                          "    for tp in (1, 2, 4, 8):\n"
                          "        e.estimate(s, e.Workload(batch=b), label=lab, deployment=d.Deployment(gpu='a100-80gb', "
                          "gpus=tp, tp=tp), catalog=c); n += 1\n"
                          "print(n / (time.perf_counter() - t))"], capture_output=True, text=True)
    mine = float(one.stdout.strip().splitlines()[-1]) if one.returncode == 0 else float("nan")
    print(f"4. one configuration a call: llm-analysis {rate:,.0f}/s, moecalc estimate {mine:,.0f}/s; "
          f"the reference sweep's cold end-to-end rate is {sweep_rate / rate:,.0f}x llm-analysis's")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true", help="leave out the 1e8-configuration sweep")
    ap.add_argument("--llm-analysis-python", help="a Python that can import llm_analysis")
    args = ap.parse_args()
    cold = reference(args.runs)
    scaling(args.skip_large)
    startup(max(args.runs, 5) * 2)
    llm_analysis(args.llm_analysis_python, cold)


if __name__ == "__main__":
    main()
