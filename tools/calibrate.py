"""Fit the calibrated serving model's constants on the published measurements, and write them,
the residuals and the error bands to moecalc/data/calibration.json.

    python tools/calibrate.py            fit, print the summary, write the file
    python tools/calibrate.py --check    refit and fail if the committed file differs

The fit: the eight constants of ``moecalc.calibration.BOUND`` (each bounded, each a physical
efficiency, overlap or overhead; docs/method/calibration.md) minimize the sum over the 29 cases
of squared log(predicted speed / measured speed), a log so that 2x too fast and 2x too slow
weigh the same. Every case goes through the engine once per round with arrays of candidate
constants (the engine broadcasts its runtime records), so a round of 1,024 candidates costs
what 29 estimates cost. The search: a seeded cross-entropy search over the box (each round
samples around the best so far and narrows), then coordinate refinement. Nothing here knows a
case's answer beyond the loss.

Leave-one-source-out: for each of the six sources, the constants are fitted on the other five
and the source's cases predicted; a constant that no remaining case depends on
(``rocm_efficiency`` without the AMD source, ``tbo_overlap`` without SGLang's) is left at the
bound's value. The bands of the
calibrated output are the 10th and 90th percentiles of those held-out residuals per regime.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measurements import Case, load  # noqa: E402

from moecalc.calibration import BOUND, REGIMES, regime  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "moecalc" / "data" / "calibration.json"
BOX = {                          # name -> (low, high): physical ranges, never a case's answer
    "mfu": (0.2, 0.9),
    "hbm_efficiency": (0.4, 0.95),
    "gemm_half_rows": (0.0, 256.0),
    "expert_efficiency": (0.2, 1.0),
    "attention_efficiency": (0.2, 1.0),
    "layer_overhead_us": (0.0, 200.0),
    "tbo_overlap": (0.0, 1.0),
    "rocm_efficiency": (0.2, 1.0),
}
NAMES = tuple(BOX)
ROUNDS, SAMPLES, SEED = 20, 1024, 20261202


class Predictor:
    """One case's deployment and requests, built once through the library; ``__call__(theta)``
    prices it for arrays of constants (name -> array) and returns the measured metric's
    prediction for each candidate."""

    def __init__(self, case: Case, profile: str = "calibrated"):
        from moecalc.assumptions import Assumptions
        from moecalc.deployment import Deployment, layout_record
        from moecalc.engine.routing import RoutingCache
        from moecalc.estimate import Workload, model_scenario
        from moecalc.hardware import hardware_record, load_catalog
        from moecalc.routers import engine_router
        from moecalc.spec.load import load as load_spec

        self.case = case
        spec, _ = load_spec(case.model)
        a = Assumptions.for_profile(profile)
        w = Workload(batch=case.batch, weights_dtype=case.weights_dtype, kv_dtype=case.kv_dtype, isl=case.isl,
                     osl=case.osl, mode=case.mode, mtp_tokens=case.mtp)
        scenario, _, _, dtypes = model_scenario(spec, w, a)
        catalog = load_catalog()
        _, acc = catalog.gpu(case.gpu)
        hardware, _ = hardware_record(acc, catalog, dtypes, a)
        layout = layout_record(Deployment(gpu=case.gpu, gpus=case.gpus, gpus_per_node=case.gpus_per_node, tp=case.tp,
                                          ep=case.ep, dp=case.dp, pp=case.pp, redundant_experts=case.redundant_experts))
        self.amd = acc.vendor.upper() == "AMD"
        self.placed = replace(scenario, layout=layout, hardware=hardware,
                              router=engine_router(None, scenario.model, spec.name))
        self.evaluated = scenario.evaluate()
        self.requests = w.requests(a.mtp_acceptance)
        self.cache = RoutingCache()

    def __call__(self, theta: dict) -> np.ndarray:
        runtime = replace(self.placed.runtime, mfu=theta["mfu"], hbm_efficiency=theta["hbm_efficiency"],
                          gemm_half_rows=theta["gemm_half_rows"], expert_efficiency=theta["expert_efficiency"],
                          attention_efficiency=theta["attention_efficiency"],
                          layer_seconds=theta["layer_overhead_us"] * 1e-6,
                          comm_overlap=theta["tbo_overlap"] if self.case.two_batch_overlap else 0.0 * theta["mfu"])
        hardware = replace(self.placed.hardware,
                           stack_efficiency=theta["rocm_efficiency"] if self.amd else 1.0 + 0 * theta["mfu"])
        served = replace(self.placed, runtime=runtime, hardware=hardware).serve_requests(
            self.requests, self.evaluated, self.cache)
        return np.asarray(getattr(served, self.case.attribute), dtype=np.float64)


def log_ratios(predictors: list[Predictor], theta: dict) -> np.ndarray:
    """(cases, candidates) log of predicted speed over measured."""
    rows = []
    for p in predictors:
        r = np.log(p.case.ratio(np.broadcast_to(p(theta), np.shape(theta["mfu"]))))
        rows.append(r)
    return np.asarray(rows)


def fit(predictors: list[Predictor], seed: int = SEED) -> dict:
    """The constants minimizing the sum of squared log ratios over ``predictors``."""
    rng = np.random.default_rng(seed)
    needs = {"rocm_efficiency": any(p.amd for p in predictors),
             "tbo_overlap": any(p.case.two_batch_overlap for p in predictors)}
    free = [n for n in NAMES if needs.get(n, True)]
    lo = np.array([BOX[n][0] for n in free])
    hi = np.array([BOX[n][1] for n in free])
    fixed = {n: BOUND[n] for n in NAMES if n not in free}

    def loss(x: np.ndarray) -> np.ndarray:
        theta = {n: x[:, i] for i, n in enumerate(free)}
        theta.update({n: np.full(len(x), v) for n, v in fixed.items()})
        lr = log_ratios(predictors, theta)
        lr = np.where(np.isfinite(lr), lr, 10.0)
        return (lr ** 2).sum(axis=0)

    best = (lo + hi) / 2
    best_loss = float(loss(best[None])[0])
    centre, width = (lo + hi) / 2, (hi - lo) / 2
    for _ in range(ROUNDS):
        x = np.clip(centre + width * rng.uniform(-1, 1, size=(SAMPLES, len(free))), lo, hi)
        x[0] = best
        values = loss(x)
        i = int(np.argmin(values))
        if values[i] < best_loss:
            best, best_loss = x[i], float(values[i])
        elite = x[np.argsort(values)[:32]]
        centre, width = best, np.maximum(elite.std(axis=0) * 2, (hi - lo) * 0.01)
    for _ in range(4):                 # coordinate refinement on a fine grid around the best
        for j in range(len(free)):
            grid = np.repeat(best[None], 129, axis=0)
            step = (hi[j] - lo[j]) * 0.05
            grid[:, j] = np.clip(best[j] + np.linspace(-step, step, 129), lo[j], hi[j])
            values = loss(grid)
            i = int(np.argmin(values))
            if values[i] < best_loss:
                best, best_loss = grid[i], float(values[i])
    out = {n: float(best[i]) for i, n in enumerate(free)}
    out.update(fixed)
    return {n: round(out[n], 4) for n in NAMES}


def predict(predictors: list[Predictor], constants: dict) -> list[float]:
    theta = {n: np.asarray([v], dtype=np.float64) for n, v in constants.items()}
    return [float(np.ravel(p(theta))[0]) for p in predictors]


def summary(rows: list[dict], key: str) -> dict:
    """Median ratio, share within [0.75, 1.33], range, per group of cases."""
    def stats(rs):
        rs = [r[key] for r in rs]
        return {"cases": len(rs), "median": round(statistics.median(rs), 3),
                "within_25pct": round(sum(0.75 <= r <= 1.33 for r in rs) / len(rs), 3),
                "min": round(min(rs), 3), "max": round(max(rs), 3)}
    groups = {"all": rows}
    for field in ("group", "vendor", "source"):
        for value in dict.fromkeys(r[field] for r in rows):
            groups[f"{field}: {value}"] = [r for r in rows if r[field] == value]
    groups["dense controls"] = [r for r in rows if r["dense"]]
    groups["MoE"] = [r for r in rows if not r["dense"]]
    return {name: stats(rs) for name, rs in groups.items()}


def run() -> dict:
    cases = load()
    predictors = [Predictor(c) for c in cases]
    constants = fit(predictors)
    bound = predict([Predictor(c, "bound") for c in cases], BOUND)
    calibrated = predict(predictors, constants)
    held_out = {}
    loso = {}
    for source in dict.fromkeys(c.source for c in cases):
        train = [p for p in predictors if p.case.source != source]
        test = [p for p in predictors if p.case.source == source]
        c = fit(train)
        loso[source] = c
        for p, v in zip(test, predict(test, c)):
            held_out[p.case.id] = v
    rows = []
    for c, b, v in zip(cases, bound, calibrated):
        rows.append({"id": c.id, "source": c.source, "group": c.group, "vendor": c.vendor, "dense": c.dense,
                     "regime": regime(c.mode, c.batch), "metric": c.metric, "measured": c.value,
                     "bound": b, "predicted": v, "held_out": held_out[c.id],
                     "ratio_bound": round(c.ratio(b), 4), "ratio": round(c.ratio(v), 4),
                     "ratio_held_out": round(c.ratio(held_out[c.id]), 4)})
    bands = {}
    for name in REGIMES:
        inverse = [1 / r["ratio_held_out"] for r in rows if r["regime"] == name]   # measured / predicted speed
        lo, hi = np.quantile(inverse, [0.1, 0.9]) if inverse else (1.0, 1.0)
        bands[name] = [round(float(min(lo, 1.0)), 3), round(float(max(hi, 1.0)), 3)]
    return {"about": "Written by tools/calibrate.py from tests/data/serving/measurements.json; do not edit. "
                     "constants: the calibrated profile's defaults; bands: per regime, the 10th and 90th "
                     "percentiles of measured / predicted speed over the leave-one-source-out residuals "
                     "(widened to include 1); cases: measured, the bound's and the calibrated prediction, and "
                     "the prediction with the case's source left out of the fit.",
            "constants": constants, "box": {n: list(BOX[n]) for n in NAMES}, "bands": bands,
            "leave_one_source_out": loso,
            "summary": {"calibrated": summary(rows, "ratio"), "held_out": summary(rows, "ratio_held_out"),
                        "bound": summary(rows, "ratio_bound")},
            "cases": rows}


def differences(committed: dict, refit: dict) -> list[str]:
    """What a refit changes beyond the last digits a different numpy could move: a constant by
    more than 0.1% of its box, a prediction or a band by more than 0.1%."""
    out = []
    for name in NAMES:
        lo, hi = BOX[name]
        a, b = committed["constants"].get(name), refit["constants"][name]
        if a is None or abs(a - b) > 1e-3 * (hi - lo):
            out.append(f"constant {name}: committed {a}, refit {b}")
    old = {r["id"]: r for r in committed.get("cases", [])}
    for r in refit["cases"]:
        o = old.get(r["id"])
        for key in ("predicted", "held_out", "bound"):
            if o is None or not math.isclose(o[key], r[key], rel_tol=1e-3):
                out.append(f"{r['id']} {key}: committed {None if o is None else o[key]}, refit {r[key]}")
    for name, (lo, hi) in refit["bands"].items():
        a = committed["bands"].get(name)
        if a is None or not (math.isclose(a[0], lo, rel_tol=1e-3) and math.isclose(a[1], hi, rel_tol=1e-3)):
            out.append(f"band {name}: committed {a}, refit {[lo, hi]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file is not what a refit gives")
    args = parser.parse_args()
    result = run()
    text = json.dumps(result, indent=1) + "\n"
    for name, s in result["summary"]["calibrated"].items():
        h = result["summary"]["held_out"][name]
        b = result["summary"]["bound"][name]
        print(f"{name:<40} n={s['cases']:>2}  calibrated median {s['median']:.2f} within25 {s['within_25pct']:.0%}"
              f"  held-out median {h['median']:.2f} within25 {h['within_25pct']:.0%}  bound median {b['median']:.2f}")
    print("constants:", json.dumps(result["constants"]))
    print("bands:", json.dumps(result["bands"]))
    if args.check:
        problems = differences(json.loads(OUT.read_text()), result)
        for p in problems:
            print(f"calibrate: {p}")
        if problems:
            print("calibrate: moecalc/data/calibration.json is not what a refit gives; run python tools/calibrate.py")
        return 1 if problems else 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
