#!/usr/bin/env python3
"""Engine throughput: one vectorized evaluate over a workload grid vs a Python loop of estimates.

Prints configurations per second for both and their ratio; never fails on speed.
"""

from __future__ import annotations

import time

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.engine import records as rec
from moecalc.engine.dtypes import KV_DTYPES
from moecalc.engine.evaluate import evaluate
from moecalc.estimate import Workload, estimate
from moecalc.spec.load import load


def main() -> None:
    spec, _ = load("deepseek-v3")
    m = spec.numbers()
    a = Assumptions()
    contexts = np.array([2 ** i for i in range(8, 21)], dtype=np.float64)          # 256 .. 1M
    batches = np.arange(1, 1025, dtype=np.float64)
    kv_bytes = np.array([KV_DTYPES[d].bytes for d in ("bf16", "fp8")])
    grid = np.meshgrid(contexts, batches, kv_bytes, indexing="ij")
    n = grid[0].size
    t0 = time.perf_counter()
    evaluate(m, rec.Workload(context=grid[0], batch=grid[1]), rec.Precision(8.002, 16, grid[2]), a.runtime())
    vec = time.perf_counter() - t0
    loop_n = 300
    t0 = time.perf_counter()
    for i in range(loop_n):
        estimate(spec, Workload(context=int(contexts[i % len(contexts)]), batch=1 + i), a)
    loop = time.perf_counter() - t0
    print(f"vectorized evaluate: {n:,} configurations in {vec * 1000:.1f} ms = {n / vec:,.0f} configs/s")
    print(f"loop of estimate():  {loop_n:,} configurations in {loop * 1000:.1f} ms = {loop_n / loop:,.0f} configs/s")
    print(f"ratio: {(n / vec) / (loop_n / loop):,.0f}x")


if __name__ == "__main__":
    main()
