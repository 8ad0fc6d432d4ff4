"""Rich tables for ``moecalc sweep``: the top rows, the cost-latency frontier, a summary line."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from moecalc.render import units as u
from moecalc.render.table import _table


def _layout(d: dict) -> str:
    parts = [f"TP{d['tp']}"] + [f"{k.upper()}{d[k]}" for k in ("dp", "pp") if d[k] > 1]
    if d["expert_tp"] is not None and d["ep"] > 1:
        parts.append(f"EP{d['ep']}")
    return "/".join(parts)


def rows_table(title: str, rows: list[dict]) -> Table:
    t = _table(title, "GPU", "n", "layout", "batch", "context", "dtypes", "mem/GPU", "TPOT", "tok/s",
               "$/Mtok", "bound")
    t.columns[0].no_wrap = True
    for r in rows:
        d, w, m, p, c = r["deployment"], r["workload"], r["memory"], r["perf"], r["cost"]
        t.add_row(d["gpu"], str(d["gpus"]), _layout(d), f"{w['batch']:,}", f"{w['context']:,}",
                  f"{w['weights_dtype']}/{w['kv_dtype']}",
                  f"{m['per_gpu_bytes'] / 1e9:,.0f}/{m['capacity_per_gpu_bytes'] / 1e9:,.0f} GB",
                  u.seconds(p["tpot_seconds"]), f"{p['tokens_per_s']:,.0f}",
                  u.usd(c["usd_per_million_output_tokens"]), {"communication": "comm"}.get(p["bound"], p["bound"]))
    return t


def sweep_view(result) -> Group:
    s = result.summary
    parts = []
    if result.top:
        parts.append(rows_table(f"Top {len(result.top)} deployments by {s['objective']} (best batch of each)",
                                result.top))
    if result.pareto:
        shown = (f"{s['pareto_shown']} of {s['pareto_points']} points, evenly spaced"
                 if s["pareto_points"] > s["pareto_shown"] else f"{s['pareto_points']} points")
        parts.append(rows_table(f"Cost-latency frontier ($/Mtok vs TPOT; {shown})", result.pareto))
    parts.append(Text(f"{s['configs_evaluated']:,} configurations evaluated, {s['feasible']:,} feasible, "
                      f"in {s['seconds']:.2f} s ({s['configs_per_s'] or 0:,.0f} per second)", style="bold"))
    if result.why_none:
        parts.append(Text(f"nothing feasible: {result.why_none}", style="yellow"))
    routing = (result.top or [{}])[0].get("routing")
    if routing and routing["model"] != "uniform" or routing and routing["capacity_factor"] is not None:
        parts.append(Text(f"routing: {routing['describe']} ({routing['effective_experts']:,.1f} effective "
                          f"experts); every row's step time follows it"))
    if result.top_command:
        parts.append(Text(f"reproduce the top row: {result.top_command}", style="dim"))
    return Group(*parts)


def print_sweep(result, width: int | None = None) -> None:
    Console(width=width).print(sweep_view(result))
