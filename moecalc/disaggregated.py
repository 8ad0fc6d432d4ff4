"""Disaggregated serving: a prefill pool and a decode pool (DeepSeek's EP32 prefill and EP144
decode, SGLang and Dynamo PD disaggregation), each its own GPU type, count and layout.

Each pool is an ``estimate`` (``mode="prefill"``: ``prefill_batch`` prompts of ISL tokens per
forward; ``mode="decode"``: the batch at ISL + OSL/2). With R_p and R_d the requests per
second one prefill and one decode instance complete, a deployment of x prefill and y decode
instances serves min(x R_p, y R_d) requests/s; x/y = R_d / R_p balances them, and the integer
xPyD reported is the smallest whose prefill keeps up (x = ceil(R_d / R_p), y = 1, or x = 1,
y = floor(R_p / R_d)). Rates and costs are per GPU over both pools. TTFT = the prefill pool's
forward + the KV transfer of one prompt, its ISL tokens' cache over the prefill instance's
scale-out links (every GPU sends its shard at the NIC rate x scale-out efficiency). TPOT is the
decode pool's.
"""

from __future__ import annotations

import math
from dataclasses import replace

from moecalc.assumptions import Assumptions
from moecalc.deployment import Deployment
from moecalc.errors import MoecalcError
from moecalc.estimate import Workload, estimate
from moecalc.report import band_sections, without_speed


def default_prefill_batch(isl: int, prefill: Deployment, chunk: int) -> int:
    """Prompts per prefill forward when not given: one max_num_batched_tokens chunk per DP
    replica (at least one prompt each)."""
    return max(1, chunk // isl) * (prefill.dp or 1)


def disaggregated(spec, workload: Workload, assumptions: Assumptions, label, decode: Deployment,
                  prefill: Deployment, catalog, routing=None, cache=None, prefill_batch: int | None = None) -> dict:
    """The two pools' estimates joined into one result (the decode pool's sections, with the
    deployment's rates and costs over both pools and a ``pools`` section)."""
    if workload.isl is None or workload.osl is None:
        raise MoecalcError("--mode disaggregated needs --isl and --osl", field="--isl")
    dec = estimate(spec, replace(workload, mode="decode"), assumptions, label, decode, catalog, routing=routing,
                   cache=cache)
    batch = prefill_batch or default_prefill_batch(workload.isl, prefill, assumptions.prefill_chunk_tokens)
    pre = estimate(spec, replace(workload, mode="prefill", batch=batch), assumptions, label, prefill, catalog,
                   routing=routing, cache=cache)
    out = dict(dec)
    out["workload"] = {**dec["workload"], "mode": "disaggregated"}
    out["warnings"] = list(dict.fromkeys(dec["warnings"] + [f"prefill pool: {w}" for w in pre["warnings"]]))
    pools = {"prefill": _pool(pre), "decode": _pool(dec)}
    out["pools"] = pools
    if not (dec["memory"]["fits"] and pre["memory"]["fits"]):
        pools.update(prefill_per_decode=None, layout=None, kv_transfer_seconds=None)
        return without_speed(out)
    r_p, r_d = pre["perf"]["requests_per_s"], dec["perf"]["requests_per_s"]
    ratio = r_d / r_p
    x, y = (math.ceil(ratio - 1e-9), 1) if ratio >= 1 else (1, max(1, math.floor(1 / ratio + 1e-9)))
    g_p, g_d = pre["deployment"]["gpus"], dec["deployment"]["gpus"]
    gpus = x * g_p + y * g_d
    rate = min(x * r_p, y * r_d)
    isl, osl = workload.isl, workload.osl
    kv = dec["kv_cache"]["bytes_per_token"] * isl
    link = pre["hardware"]["scale_out"] or pre["hardware"]["scale_up"]
    kv_seconds = kv / (g_p * link["bytes_per_s"] * assumptions.scaleout_efficiency) + link["latency_s"]
    perf = out["perf"] = dict(dec["perf"])
    perf.update(ttft_seconds=pre["perf"]["ttft_seconds"] + kv_seconds, tokens_per_s=rate * osl,
                tokens_per_s_per_gpu=rate * osl / gpus, input_tokens_per_s_per_gpu=rate * isl / gpus,
                requests_per_s=rate)
    perf["request_latency_seconds"] = perf["ttft_seconds"] + (osl - 1) * perf["tpot_seconds"]
    pools.update(prefill_per_decode=ratio, layout=f"{x}P{y}D", prefill_instances=x, decode_instances=y, gpus=gpus,
                 kv_transfer_seconds=kv_seconds, prefill_batch=batch)
    cost = out["cost"] = {k: v for k, v in dec["cost"].items() if k.startswith("price_")}   # the decode pool's
    hours = [pre["cost"]["usd_per_hour"], dec["cost"]["usd_per_hour"]]
    if None in hours:
        cost.update(usd_per_million_output_tokens=None, usd_per_hour=None)
        return _ranged(out, assumptions)
    usd_s = (x * hours[0] + y * hours[1]) / 3600
    cost.update(usd_per_hour=usd_s * 3600, usd_per_million_output_tokens=usd_s / (rate * osl) * 1e6,
                usd_per_million_input_tokens=usd_s / (rate * isl) * 1e6, usd_per_request=usd_s / rate,
                usd_per_million_tokens=usd_s / (rate * (isl + osl)) * 1e6,
                split={"input_usd_per_million": x * hours[0] / 3600 / (rate * isl) * 1e6,
                       "output_usd_per_million": y * hours[1] / 3600 / (rate * osl) * 1e6},
                prefill_share=x * hours[0] / (x * hours[0] + y * hours[1]))
    return _ranged(out, assumptions)


def _ranged(out: dict, assumptions: Assumptions) -> dict:
    """The ranges of the joined rates and costs: the decode regime's band (the pools' rates are
    set by the slower of the two, and decode is the batched regime)."""
    return band_sections(out, assumptions.profile, "decode", 2)


def _pool(r: dict) -> dict:
    d, p = r["deployment"], r["perf"]
    return {"gpu": d["gpu"], "gpus": d["gpus"], "tp": d["tp"], "ep": d["ep"], "dp": d["dp"], "pp": d["pp"],
            "batch": r["workload"]["batch"], "fits": r["memory"]["fits"], "per_gpu_bytes": r["memory"]["per_gpu_bytes"],
            "requests_per_s": p.get("requests_per_s"), "ttft_seconds": p.get("ttft_seconds"),
            "tpot_seconds": p.get("tpot_seconds"), "tokens_per_s_per_gpu": p.get("tokens_per_s_per_gpu"),
            "input_tokens_per_s_per_gpu": p.get("input_tokens_per_s_per_gpu"),
            "usd_per_hour": r["cost"].get("usd_per_hour"),
            # each pool's own price and its basis (the pools may run on different GPU types)
            **{k: v for k, v in r["cost"].items() if k.startswith("price_")}}
