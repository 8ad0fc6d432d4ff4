#!/usr/bin/env python3
"""Sweep throughput (figures, never pass/fail):

1. the engine alone: ``run_sweep`` over ~12 million DeepSeek-V3 configurations (27 GPU types x
   7 counts x 4 TP x 2 PP x 1,024 batches x 4 contexts x 2 KV dtypes), configurations per second;
2. the CLI end to end on the same space: wall seconds and peak resident memory of the process;
3. a loop of single ``estimate`` calls over sampled feasible rows: configurations per second,
   the ratio, and the largest relative difference from the sweep's numbers (must be < 1e-9).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

os.environ["MOECALC_CACHE_DIR"] = "off"      # cold, here and in the CLI run: no solved terms from before

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.deployment import Deployment
from moecalc.estimate import Workload, estimate
from moecalc.hardware import load_catalog
from moecalc.spec.load import load
from moecalc.sweep import Space, run_sweep

ARGS = ["--gpu", "all", "--gpus", "1..64", "--tp", "1,2,4,8", "--pp", "1,2", "--batch", "1:1024:1",
        "--context", "1k,4k,16k,64k", "--kv-dtype", "bf16,fp8"]


def main() -> None:
    spec, label = load("deepseek-v3")
    catalog = load_catalog()
    space = Space(gpu=tuple(catalog.accelerators), gpus=(1, 2, 4, 8, 16, 32, 64), tp=(1, 2, 4, 8), pp=(1, 2),
                  batch=tuple(range(1, 1025)), context=(1024, 4096, 16384, 65536), kv_dtype=("bf16", "fp8"))
    sample: dict = {}

    def keep(rows: dict) -> None:                 # keep a few feasible rows to check against estimate
        if len(sample.get("gpu", ())) < 200:
            take = np.random.default_rng(len(sample)).choice(len(rows["gpu"]), min(20, len(rows["gpu"])), replace=False)
            for k, v in rows.items():
                sample[k] = np.concatenate([sample.get(k, v[:0]), v[take]])

    t0 = time.perf_counter()
    result = run_sweep(spec, space, catalog, on_rows=keep, label=label, top_n=10)
    wall = time.perf_counter() - t0
    s = result.summary
    print(f"engine: {s['configs_evaluated']:,} configurations ({s['feasible']:,} feasible) in {s['seconds']:.2f} s "
          f"= {s['configs_evaluated'] / s['seconds']:,.0f} configs/s; with top-10 and frontier reports {wall:.2f} s")

    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "moecalc", "sweep", "deepseek-v3", *ARGS, "--format", "json"],
                         capture_output=True, text=True)
    cli = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"CLI end to end: {cli:.2f} s wall, peak resident memory {peak:,.0f} MiB (exit {run.returncode})")

    n = len(sample["gpu"])
    worst = 0.0
    t0 = time.perf_counter()
    for i in range(n):
        d = Deployment(gpu=sample["gpu"][i], gpus=int(sample["gpus"][i]), gpus_per_node=int(sample["gpus_per_node"][i]),
                       tp=int(sample["tp"][i]), ep=int(sample["ep"][i]), dp=int(sample["dp"][i]), pp=int(sample["pp"][i]))
        w = Workload(batch=int(sample["batch"][i]), context=int(sample["context"][i]),
                     weights_dtype=sample["weights_dtype"][i], kv_dtype=sample["kv_dtype"][i])
        r = estimate(spec, w, Assumptions(), label, d, catalog)
        for got, want in ((r["perf"]["tpot_seconds"], sample["tpot_seconds"][i]),
                          (r["memory"]["per_gpu_bytes"], sample["per_gpu_bytes"][i])):
            worst = max(worst, abs(got - want) / abs(want))
    loop = time.perf_counter() - t0
    print(f"loop of estimate(): {n} configurations in {loop:.2f} s = {n / loop:,.0f} configs/s; "
          f"sweep / loop = {(s['configs_evaluated'] / s['seconds']) / (n / loop):,.0f}x; "
          f"largest relative difference {worst:.1e}")


if __name__ == "__main__":
    main()
