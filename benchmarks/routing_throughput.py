#!/usr/bin/env python3
"""Routing under skew (figures, never pass/fail):

1. solving the conditional-Poisson router for a Zipf profile (DeepSeek-V3's 256 experts, Kimi
   K2's 384): seconds;
2. the Monte Carlo sampler: routed tokens per second;
3. a DeepSeek-V3 sweep (5 GPU types x 1..64 GPUs x TP 1-8 x 1,024 batches x 2 contexts) with
   uniform routing and with --routing zipf:1.2: configurations per second and the ratio.

Cold: moecalc's on-disk cache (which keeps solved routing terms between sweeps) is off, so the
figures do not depend on what ran before.
"""

from __future__ import annotations

import os
import time

os.environ["MOECALC_CACHE_DIR"] = "off"      # before moecalc is imported: cold figures

import numpy as np

from moecalc.engine.routing.law import sample_sets, solve
from moecalc.hardware import load_catalog
from moecalc.routers import Routing, inclusion
from moecalc.spec.load import load
from moecalc.sweep import Space, run_sweep


def main() -> None:
    for E, k in ((256, 8), (384, 8)):
        pi = inclusion(Routing("zipf", value=1.2), E, k, "bench")
        t0 = time.perf_counter()
        r = solve(pi)
        print(f"router solve, E={E} k={k} zipf:1.2: {time.perf_counter() - t0:.3f} s")
    t0 = time.perf_counter()
    sample_sets(r, 100_000, np.random.default_rng(0))
    dt = time.perf_counter() - t0
    print(f"sampler: 100,000 tokens x top-8 of 384 in {dt:.2f} s = {100_000 / dt:,.0f} tokens/s")

    spec, label = load("deepseek-v3")
    catalog = load_catalog()
    base = dict(gpu=("h100", "h200", "b200", "mi300x", "mi325x"), gpus=(1, 2, 4, 8, 16, 32, 64), tp=(1, 2, 4, 8),
                batch=tuple(range(1, 1025)), context=(4096, 32768))
    rates = {}
    for name, routing in (("uniform", None), ("zipf:1.2", Routing("zipf", value=1.2))):
        result = run_sweep(spec, Space(**base, routing=routing), catalog, label=label)
        s = result.summary
        rates[name] = s["configs_evaluated"] / s["seconds"]
        print(f"sweep, {name}: {s['configs_evaluated']:,} configurations in {s['seconds']:.2f} s = "
              f"{rates[name]:,.0f} configs/s; top row {result.top[0]['perf']['tpot_seconds'] * 1e3:.2f} ms TPOT, "
              f"${result.top[0]['cost']['usd_per_million_output_tokens']:.3f}/Mtok")
    print(f"skewed / uniform sweep speed: {rates['zipf:1.2'] / rates['uniform']:.2f}")


if __name__ == "__main__":
    main()
