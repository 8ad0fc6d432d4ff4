"""Rich view of ``moecalc compare``: a side-by-side table with ratios to the first column, bars
for memory and FLOPs per token, KV cache as the context grows, and one verdict per model."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from moecalc.compare import KV_CONTEXTS, _get
from moecalc.render import units as u
from moecalc.render.fit import FirstFit, WholeWords
from moecalc.render.table import _table

BAR = 40


def _cell(e: dict, name: str, text: str) -> str:
    r = e["ratios"].get(name)
    return text if r is None else f"{text}  x{r:.2f}"


def _served(e: dict, name: str, value, fmt) -> str:
    """A speed or cost cell: "does not fit" where the deployment gives none (null in the JSON)."""
    return "- (does not fit)" if value is None else _cell(e, name, fmt(value))


def side_by_side(models: list[dict]) -> Table:
    t = _table("Side by side (x ratio to the first column)", "", *[m["name"] for m in models])
    rows = [
        ("kind", lambda m: m["kind"]),
        ("total params", lambda m: _cell(m, "params_total", u.params(m["params"]["total"]))),
        ("active params", lambda m: _cell(m, "params_active", u.params(m["params"]["active"]))),
        ("weights", lambda m: _cell(m, "weights_bytes", f"{u.gb(m['weights']['bytes'])} {m['weights']['dtype']}")),
        ("KV cache per token", lambda m: _cell(m, "kv_bytes_per_token", u.bytes_small(m["kv_cache"]["bytes_per_token"]))),
        ("KV cache, workload", lambda m: u.gb(m["kv_cache"]["bytes"])),
        ("prefill FLOPs/token", lambda m: _cell(m, "prefill_flops_per_token", u.flops(m["flops"]["prefill_per_token"]))),
        ("decode FLOPs/token", lambda m: _cell(m, "decode_flops_per_token", u.flops(m["flops"]["decode_per_token"]))),
        ("min GPUs to fit", lambda m: "-" if m["min_gpus_to_fit"]["gpus"] is None else
         f"{m['min_gpus_to_fit']['gpus']} x {m['min_gpus_to_fit']['gpu']}"),
    ]
    if "perf" in models[0]:
        rows += [
            ("deployment", lambda m: f"{m['deployment']['gpus']} x {m['deployment']['gpu']}, TP{m['deployment']['tp']}"
             + "".join(f" {k.upper()}{m['deployment'][k]}" for k in ("dp", "pp", "ep") if m["deployment"][k] > 1)),
            ("memory per GPU", lambda m: f"{u.gb(m['memory']['per_gpu_bytes'])} of {m['memory']['capacity_per_gpu_bytes'] / 1e9:,.0f}"
             + ("" if m["memory"]["fits"] else " (does NOT fit)")),
            ("TPOT", lambda m: _served(m, "tpot_seconds", m["perf"]["tpot_seconds"], u.seconds)),
            ("tokens/s per GPU", lambda m: _served(m, "tokens_per_s_per_gpu", m["perf"]["tokens_per_s_per_gpu"],
                                                   lambda v: f"{v:,.0f}")),
            ("$ per million output tokens", lambda m: _served(m, "usd_per_million_output_tokens",
                                                              m["cost"]["usd_per_million_output_tokens"], u.usd)),
        ]
    if any("routing" in m for m in models):
        rows.append(("routing", lambda m: m["routing"]["describe"] if "routing" in m else "-"))
        rows.append(("effective experts", lambda m: f"{m['routing']['effective_experts']:,.1f}" if "routing" in m else "-"))
        if "perf" in models[0]:
            rows.append(("hottest EP rank", lambda m: f"{m['routing']['straggler']:.2f}x even, reads "
                         f"{m['routing']['experts_touched_fraction']:.0%}" if "routing" in m else "-"))
    for label, fn in rows:
        t.add_row(label, *[fn(m) for m in models])
    return t


def side_by_side_fitted(models: list[dict]) -> FirstFit:
    """The side-by-side table where the terminal holds every column with each cell's words whole
    (cells wrap between words); else the models in as few tables of consecutive columns as fit,
    each with the row labels (the ratios stay to the first model)."""
    layouts = [WholeWords(side_by_side(models))]
    for parts in range(2, len(models) + 1):
        tables = []
        for i, chunk in enumerate(_split(models, parts)):
            t = side_by_side(chunk)
            if i:
                t.title = "Side by side, continued (x ratio to the first model)"
            tables.append(WholeWords(t))
        layouts.append(Group(*tables))
    return FirstFit(*layouts, need="words")


def _split(items: list, parts: int) -> list[list]:
    """``items`` in ``parts`` consecutive runs whose lengths differ by at most one."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(items[start:end])
        start = end
    return out


def bars(title: str, models: list[dict], path: tuple, fmt) -> FirstFit:
    """One bar a model, BAR characters at the largest; shorter bars where the terminal is narrow,
    so that a value stays on its line."""
    return FirstFit(*(_bars(title, models, path, fmt, n) for n in (BAR, BAR * 3 // 4, BAR // 2)))


def _bars(title: str, models: list[dict], path: tuple, fmt, longest: int) -> Table:
    values = [_get(m, path) or 0.0 for m in models]
    top = max(values) or 1.0
    t = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None, pad_edge=False)
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(justify="right")
    for m, v in zip(models, values):
        n = max(1, round(longest * v / top)) if v else 0
        t.add_row(m["name"], Text("#" * n, style="cyan"), fmt(v))
    return t


def kv_growth(models: list[dict]) -> Table:
    t = _table("KV cache of one sequence as the context grows (MLA holds a latent per layer; GQA 2 x kv heads)",
               "model", *[f"{c // 1024}k" for c in KV_CONTEXTS])
    for m in models:
        t.add_row(m["name"], *[u.gb(m["kv_cache_by_context"][str(c)]) for c in KV_CONTEXTS])
    return t


def compare_view(result: dict) -> Group:
    models = result["models"]
    parts = [side_by_side_fitted(models),
             bars("Weight memory", models, ("weights", "bytes"), u.gb),
             bars("Decode FLOPs per token", models, ("flops", "decode_per_token"), u.flops),
             kv_growth(models)]
    for m in models:
        if m["construction"]:
            parts.append(Text(f"{m['name']}: {m['construction']}", style="dim"))
    for m in models:
        parts.append(Text(m["verdict"], style="bold"))
    line = price_line(models)
    if line is not None:
        parts.append(line)
    return Group(*parts)


def price_line(models: list[dict]) -> Text | None:
    """What the dollars per million output tokens rest on: each GPU type's price, its source and
    basis (once a type), or that it has none."""
    from moecalc.prices import flagged
    from moecalc.render.prices import basis

    seen, lines, warn = set(), [], False
    for m in models:
        c = m.get("cost")
        if not c or m["hardware"]["name"] in seen:
            continue
        seen.add(m["hardware"]["name"])
        if c["price_per_gpu_hour"] is None:
            lines.append(f"{m['hardware']['name']}: no price (--price-per-hour)")
            continue
        note = basis(c)
        lines.append(f"{m['hardware']['name']} at {u.usd(c['price_per_gpu_hour'])}/GPU-hour ({c['price_source']})"
                     + (f"; {note}" if note else ""))
        warn = warn or flagged(c)
    if not lines:
        return None
    return Text("$ per million output tokens: " + "; ".join(lines), style="yellow" if warn else "dim")


def print_compare(result: dict, width: int | None = None) -> None:
    Console(width=width).print(compare_view(result))


