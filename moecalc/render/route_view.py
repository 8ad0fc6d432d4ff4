"""Rich view of ``moecalc route``: load histograms per expert and per EP rank, closed forms next
to the Monte Carlo, and the cost of the skew against uniform routing."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from moecalc.render import units as u

BAR = 36
MAX_ROWS = 16


def _bars(title: str, labels: list[str], values: np.ndarray, mean: float, note: str) -> Table:
    """One bar per row, scaled to the largest; the value as x the mean (1.00x: even load)."""
    t = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False,
              caption=note, caption_justify="left", caption_style="dim")
    t.add_column("", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("x mean", justify="right")
    top = float(values.max()) or 1.0
    for label, v in zip(labels, values):
        n = round(BAR * v / top)
        even = min(BAR, round(BAR * mean / top))
        bar = Text("#" * n, style="red" if v > 1.5 * mean else "cyan")
        if n < even:
            bar.append("." * (even - n), style="dim")
        t.add_row(label, bar, f"{v / mean:.2f}x" if mean else "-")
    return t


def _grouped(values: np.ndarray, unit: str) -> tuple[list[str], np.ndarray]:
    """Values sorted hottest first, in at most MAX_ROWS groups (mean of each group)."""
    order = np.argsort(-values, kind="stable")
    groups = np.array_split(order, min(MAX_ROWS, len(values)))
    labels = [f"{unit} {g[0]}" if len(g) == 1 else f"{len(g)} {unit}s, #{int(np.where(order == g[0])[0][0]) + 1}-"
              f"{int(np.where(order == g[-1])[0][0]) + 1}" for g in groups]
    return labels, np.array([values[g].mean() for g in groups])


def route_view(r: dict) -> Group:
    m, rt, s = r["model"], r["routing"], r["summary"]
    d = r["deployment"]
    head = Text()
    head.append(f"{m['name']}: {rt['describe']}", style="bold")
    head.append(f"\n{r['tokens']:,} tokens routed to top-{m['top_k']} of {m['num_experts']} experts (seed "
                f"{rt['seed']}), on EP{r['ep']}"
                + (f" + {r['redundant_experts']} redundant slots (EPLB)" if r["redundant_experts"] else "")
                + f" over {r['nodes']} node{'s' if r['nodes'] > 1 else ''}; {d['gpus']} x {d['gpu']}")
    counts = np.asarray(r["experts"]["counts"])
    labels, values = _grouped(counts, "expert")
    mean = counts.mean()
    per_expert = _bars("Tokens per expert, hottest first (dots: the uniform level)", labels, values, mean,
                       f"hottest experts: {', '.join(str(i) for i in r['experts']['hottest'])}")
    ranks = np.asarray(r["ranks"]["tokens"])
    rlabels, rvalues = (([f"rank {i}" for i in range(len(ranks))], ranks) if len(ranks) <= MAX_ROWS
                        else _grouped(ranks, "rank"))
    per_rank = _bars(f"Tokens per EP rank ({'rank order' if len(ranks) <= MAX_ROWS else 'hottest first'})",
                     rlabels, rvalues, ranks.mean() if ranks.sum() else 1.0,
                     "the hottest rank sets the MoE layer's compute time (the straggler)")

    t = Table(title=f"Closed form vs Monte Carlo of the {r['tokens']:,} tokens", title_justify="left",
              title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
              caption=f"closed forms at {r['tokens']:,} tokens; hottest rank as the cost below takes it "
                      f"(large-batch limit {s['straggler']['large_batch_limit']:.3f}x)",
              caption_justify="left", caption_style="dim")
    for c, j in (("quantity", "left"), ("closed form", "right"), ("Monte Carlo", "right"), ("uniform", "right")):
        t.add_column(c, justify=j)
    rows = [("effective experts, exp(entropy)", "effective_experts", "{:,.1f}"),
            ("distinct experts touched", "distinct_experts", "{:,.1f}"),
            ("hottest expert / mean", "hottest_expert_load", "{:,.2f}x"),
            ("hottest rank's load / even share", "straggler", "{:,.3f}x"),
            ("experts touched on the hottest rank", "hottest_rank_touched", "{:,.1f}")]
    if "over_capacity" in s:
        verb = "rerouted" if rt["overflow"] == "reroute" else "dropped"
        rows.append((f"over capacity C={rt['capacity_factor']:g} ({verb})", "over_capacity", "{:.2%}"))
    for name, key, fmt in rows:
        v = s[key]
        t.add_row(name, fmt.format(v["closed"]), fmt.format(v["monte_carlo"]), fmt.format(v["uniform"]))

    c = r["cost"]
    cols = [("uniform", c["uniform"])]
    if "routed_no_redundant" in c:
        cols += [("routed", c["routed_no_redundant"]), (f"+ {r['redundant_experts']} redundant", c["routed"])]
    else:
        cols.append(("routed", c["routed"]))
    w = r["workload"]
    ct = Table(title=f"What it costs: batch {w['batch']:,} x context {w['context']:,} on {d['gpus']} x {d['gpu']}",
               title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    ct.add_column("")
    for name, _ in cols:
        ct.add_column(name, justify="right")
    base = c["uniform"]

    def delta(v, b):
        return "" if not b or v is None or b is None else f" ({u.change(v / b - 1)})"

    for label, key, fmt in (("TPOT", "tpot_seconds", u.seconds), ("TTFT", "ttft_seconds", u.seconds),
                            ("tokens/s per GPU", "tokens_per_s_per_gpu", lambda v: f"{v:,.1f}"),
                            ("$ per M output tokens", "usd_per_million_output_tokens", u.usd),
                            ("hottest rank's routed work", "straggler", lambda v: f"{v:.3f}x"),
                            ("experts read, fullest GPU", "experts_touched_fraction", lambda v: f"{v:.1%}"),
                            ("decode compute", "decode_compute_seconds", u.seconds),
                            ("decode memory", "decode_memory_seconds", u.seconds),
                            ("decode comm", "decode_comm_seconds", u.seconds),
                            ("bound", "bound", str)):
        cells = []
        for _, x in cols:
            v = x[key]
            text = fmt(v) if v is not None else "n/a"
            if key not in ("bound", "straggler", "experts_touched_fraction") and x is not base:
                text += delta(v, base[key])
            cells.append(text)
        ct.add_row(label, *cells)
    return Group(head, Text(""), per_expert, Text(""), per_rank, Text(""), t, Text(""), ct)


def print_route(r: dict, width: int | None = None) -> None:
    Console(width=width).print(route_view(r))
