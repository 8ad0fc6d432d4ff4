"""Rich tables for ``moecalc sweep``: the top rows, the cost-latency frontier, a summary line."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from moecalc.render import units as u
from moecalc.render.prices import sweep_line
from moecalc.render.table import _table


def _layout(d: dict) -> str:
    parts = [f"TP{d['tp']}"] + [f"{k.upper()}{d[k]}" for k in ("dp", "pp") if d[k] > 1]
    if d["expert_tp"] is not None and d["ep"] > 1:
        parts.append(f"EP{d['ep']}")
    return "/".join(parts)


def rows_table(title: str, rows: list[dict]) -> Table:
    """The rows in at most 80 columns: dtypes and the request shape only when they vary."""
    vary = lambda key: len({str(r["workload"].get(key)) for r in rows}) > 1  # noqa: E731
    requests = rows and rows[0]["workload"].get("isl") is not None
    cols = ["GPU", "n", "layout", "batch"]
    shape = "isl/osl" if requests else "ctx"
    if (vary("isl") or vary("osl")) if requests else vary("context"):
        cols.append(shape)
    dtypes = vary("weights_dtype") or vary("kv_dtype")
    if dtypes:
        cols.append("dtypes")
    cols += ["GB/GPU", "TPOT", "tok/s/GPU", "$/Mtok"]
    t = _table(title, *cols)
    if len(cols) > 8:
        t.padding = (0, 0)                     # one space between columns: 80 columns hold all nine
    for c in t.columns:
        c.no_wrap = c.header in ("GPU", "layout", "$/Mtok")     # never cut the layout or the cost
    for r in rows:
        d, w, m, p, c = r["deployment"], r["workload"], r["memory"], r["perf"], r["cost"]
        cells = [d["gpu"], str(d["gpus"]), _layout(d), f"{w['batch']:,}"]
        if shape in cols:
            cells.append(f"{w['isl']:,}/{w['osl']:,}" if requests else f"{w['context']:,}")
        if dtypes:
            cells.append(f"{w['weights_dtype']}/{w['kv_dtype']}")
        cells += [f"{m['per_gpu_bytes'] / 1e9:,.0f}/{m['capacity_per_gpu_bytes'] / 1e9:,.0f}",
                  "n/a" if p["tpot_seconds"] is None else u.seconds(p["tpot_seconds"]),
                  "n/a" if p["tokens_per_s_per_gpu"] is None else f"{p['tokens_per_s_per_gpu']:,.0f}",
                  "n/a" if c["usd_per_million_output_tokens"] is None else u.usd(c["usd_per_million_output_tokens"])]
        t.add_row(*cells)
    return t


def interactivity_table(rows: list[dict]) -> Table:
    t = _table("Throughput-interactivity frontier (output tokens/s per GPU vs per user)", "GPU", "n", "layout",
               "batch", "tok/s/user", "tok/s/GPU")
    for r in rows:
        lay = {"tp": r["tp"], "dp": r["dp"], "pp": r["pp"], "ep": r["ep"], "expert_tp": 1}
        t.add_row(r["gpu"], str(r["gpus"]), _layout(lay), f"{r['batch']:,}", f"{r['tokens_per_s_per_user']:,.1f}",
                  f"{r['tokens_per_s_per_gpu']:,.0f}")
    return t


def sweep_view(result, frontier: str = "cost") -> Group:
    s = result.summary
    parts = []
    if result.top:
        parts.append(rows_table(f"Top {len(result.top)} deployments by {s['objective']} (best batch of each)",
                                result.top))
    if frontier == "interactivity" and result.interactivity:
        parts.append(interactivity_table(result.interactivity))
    elif result.pareto:
        shown = (f"{s['pareto_shown']} of {s['pareto_points']} points, evenly spaced"
                 if s["pareto_points"] > s["pareto_shown"] else f"{s['pareto_points']} points")
        parts.append(rows_table(f"Cost-latency frontier ($/Mtok vs TPOT; {shown})", result.pareto))
    pruned = ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in s["configs_pruned"].items() if n)
    parts.append(Text(f"{s['configs_enumerated']:,} configurations, {s['configs_evaluated']:,} evaluated"
                      + (f" (pruned: {pruned})" if pruned else "") + f", {s['feasible']:,} feasible, "
                      f"in {s['seconds_since_start']:.2f} s ({s['configs_per_s'] or 0:,.0f} per second)", style="bold"))
    if result.why_none:
        parts.append(Text(f"nothing feasible: {result.why_none}", style="yellow"))
    prices = sweep_line(s)
    if prices:
        parts.append(Text(prices, style="yellow"))
    if s.get("close_call"):
        parts.append(Text(close_call_line(s["close_call"])))
    routing = (result.top or [{}])[0].get("routing")
    if routing and routing["model"] != "uniform" or routing and routing["capacity_factor"] is not None:
        parts.append(Text(f"routing: {routing['describe']} ({routing['effective_experts']:,.1f} effective "
                          f"experts); every row's step time follows it"))
    if result.top_command:
        parts.append(Text("reproduce the top row:", style="dim"))
    return Group(*parts)


def close_call_line(cc: dict) -> str:
    """``b200 leads h200 by 0.6% on tpot_seconds: HBM bandwidth for it (memory 0.83 vs 1.34 ms),
    the links ... against it (communication 1.30 vs 0.86 ms)``."""
    a, b = cc["gpus"]

    def part(t, side):
        if t is None:
            return None
        name = t["term"].replace("_seconds", "").replace("comm", "communication")
        return (f"{t['input']} {side} it ({name} {u.seconds(t['seconds'][0])} vs "
                f"{u.seconds(t['seconds'][1])} a decode step)")
    why = [p for p in (part(cc["for_first"], "for"), part(cc["against_first"], "against")) if p]
    return f"close call: {a} leads {b} by {abs(cc['gap']):.1%} on {cc['objective']}: " + "; ".join(why)


def print_sweep(result, width: int | None = None, frontier: str = "cost") -> None:
    console = Console(width=width)
    console.print(sweep_view(result, frontier))
    if result.top_command:          # one unbroken line (the terminal wraps it softly): it pastes whole
        console.print(Text(result.top_command, style="dim"), soft_wrap=True)
