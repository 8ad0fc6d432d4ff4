"""The calibrated serving model's fitted constants and its error bands, as ``tools/calibrate.py``
wrote them into ``moecalc/data/calibration.json`` from the published measurements of
``tests/data/serving/measurements.json`` (docs/method/calibration.md says how).

``FITTED``: assumption name -> value, the defaults of the ``calibrated`` profile.
``BOUND``: the same names at the pure roofline's values (``--assume profile=bound``).
``band(regime)``: (low, high), the 10th and 90th percentiles of measured over predicted speed
in that regime's leave-one-source-out residuals; a speed's range is speed x (low, high).
"""

from __future__ import annotations

import functools
import json

from moecalc.spec import package_path

BOUND = {"mfu": 0.4, "hbm_efficiency": 0.85, "gemm_half_rows": 0.0, "expert_efficiency": 1.0,
         "attention_efficiency": 1.0, "layer_overhead_us": 0.0, "tbo_overlap": 1.0, "rocm_efficiency": 1.0}
"""The roofline: peak x MFU and HBM x efficiency (their documented defaults), nothing else;
two-batch overlap, where a deployment runs it, hides all communication."""

BOUND_SETTINGS = {"a2a_kernel": "normal"}
"""The bound's choices that are not fitted constants: the all-to-all as DeepEP's normal kernels."""

REGIMES = ("batch-1", "decode", "prefill")


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(package_path("data", "calibration.json").read_text(encoding="utf-8"))


def fitted() -> dict:
    """The fitted constants by assumption name."""
    return dict(_data()["constants"])


def band(regime: str) -> tuple[float, float]:
    """(low, high) factors on a predicted speed for ``regime`` (one of REGIMES)."""
    lo, hi = _data()["bands"][regime]
    return float(lo), float(hi)


def regime(mode: str | None, batch: int) -> str:
    """Which residuals a workload's band comes from: one sequence at a time, a prefill pool, or
    batched decoding (continuous, static, decode pools and plain decode steps)."""
    if mode == "prefill":
        return "prefill"
    return "batch-1" if batch <= 1 else "decode"
