#!/usr/bin/env python3
"""Serving-engine throughput: one broadcast ``serve`` over layouts x batches x contexts vs a
Python loop of ``estimate --gpu`` calls. Prints configurations per second and the ratio; never
fails on speed.
"""

from __future__ import annotations

import time

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.deployment import Deployment
from moecalc.engine import records as rec
from moecalc.engine.routing import RoutingCache
from moecalc.engine.scenario import Scenario
from moecalc.estimate import Workload, estimate
from moecalc.hardware import hardware_record, load_catalog
from moecalc.spec.load import load


def main() -> None:
    spec, _ = load("deepseek-v3")
    m = spec.numbers()
    a = Assumptions()
    catalog = load_catalog()
    _, acc = catalog.gpu("h200")
    layouts = [(tp, dp) for tp in (1, 2, 4, 8) for dp in (1, 2, 4, 8, 16, 32)]
    tp = np.array([x[0] for x in layouts], dtype=np.float64)[:, None, None]
    dp = np.array([x[1] for x in layouts], dtype=np.float64)[:, None, None]
    batch = np.arange(1, 513, dtype=np.float64)[None, :, None]
    context = np.array([2 ** i for i in range(10, 18)], dtype=np.float64)[None, None, :]
    hardware, _ = hardware_record(acc, catalog, "fp8", a)
    n = tp.size * batch.size * context.size
    t0 = time.perf_counter()
    Scenario(m, rec.Workload(context=context, batch=batch), a.precision("fp8", "bf16"), a.runtime(),
             rec.Layout(tp=tp, dp=dp, pp=1, ep=tp * dp, gpus_per_node=8), hardware).serve()
    vec = time.perf_counter() - t0
    loop_n = 100
    cache = RoutingCache()          # what a loop of estimates shares (solved routing terms)
    t0 = time.perf_counter()
    for i in range(loop_n):
        t, d = layouts[i % len(layouts)]
        estimate(spec, Workload(context=4096, batch=1 + i), a, None,
                 Deployment(gpu="h200", gpus=t * d, tp=t, dp=d), catalog, cache=cache)
    loop = time.perf_counter() - t0
    print(f"broadcast serve:          {n:,} configurations in {vec * 1000:.0f} ms = {n / vec:,.0f} configs/s")
    print(f"loop of estimate(--gpu):  {loop_n:,} configurations in {loop * 1000:.0f} ms = {loop_n / loop:,.0f} configs/s")
    print(f"ratio: {(n / vec) / (loop_n / loop):,.0f}x")


if __name__ == "__main__":
    main()
