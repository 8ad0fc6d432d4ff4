"""Pictures of a command's result (``--plot FILE.png|FILE.svg``), drawn from the same dict its
``--format json`` writes, so every plotted number is also in the JSON.

Conventions: 8 x 5 inches at 100 dpi (800 x 500 pixels), DejaVu Sans (matplotlib's own font)
at fixed sizes, labelled axes with units, log scales where values span decades, one colour per
GPU type in every plot (the catalog's order over a fixed palette), a title naming the model and
the workload, a caption with moecalc's version and the assumptions, and no timestamp or
software tag in the file (the same input writes the same bytes). matplotlib is an optional
extra: ``pip install 'moecalc[plot]'``.
"""

from __future__ import annotations

from pathlib import Path

from moecalc.errors import MoecalcError

SIZE_IN, DPI = (8.0, 5.0), 100
SUFFIXES = (".png", ".svg")
PARTS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def check_path(path: str, force: bool) -> None:
    """Before the work: a .png or .svg path that may be written (moecalc's one rule for files)."""
    from moecalc.files import check_writable

    if Path(path).suffix.lower() not in SUFFIXES:
        raise MoecalcError("must end in .png or .svg", file=path, field="--plot")
    check_writable(path, force, "--plot")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MoecalcError("drawing needs matplotlib: pip install 'moecalc[plot]'", field="--plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10,
                         "figure.titlesize": 11, "svg.hashsalt": "moecalc", "svg.fonttype": "none",
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def palette() -> list:
    """50 colours: tab10, then tab20b and tab20c (a GPU type's is its place in the catalog)."""
    from matplotlib import colormaps

    return [*colormaps["tab10"].colors, *colormaps["tab20b"].colors, *colormaps["tab20c"].colors]


def gpu_colour(gpu: str):
    """One colour per GPU type, the same in every plot: its place in the bundled catalog."""
    from moecalc.hardware import load_catalog

    import zlib

    keys = list(load_catalog().accelerators)          # a --hardware-file's own GPUs: by their name
    colours = palette()
    return colours[(keys.index(gpu) if gpu in keys else zlib.crc32(gpu.encode())) % len(colours)]


def _figure(plt, panels: int, title: str, caption: str):
    from moecalc import __version__

    fig, axes = plt.subplots(1, panels, figsize=SIZE_IN, dpi=DPI, squeeze=False)
    fig.suptitle(title)
    fig.text(0.01, 0.012, f"moecalc {__version__} · {caption}", fontsize=7, color="0.35")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.86, bottom=0.2, wspace=0.35)
    return fig, list(axes[0])


def _stack(ax, labels: list[str], parts: dict[str, list[float]], unit: str, horizontal: bool = True,
           height: float = 0.8):
    """Stacked bars, one per label, of named parts (a part that is zero everywhere is left out)."""
    base = [0.0] * len(labels)
    for i, (name, values) in enumerate(parts.items()):
        if not any(values):
            continue
        if horizontal:
            ax.barh(labels, values, height, left=base, color=PARTS[i % len(PARTS)], label=name)
        else:
            ax.bar(labels, values, height, bottom=base, color=PARTS[i % len(PARTS)], label=name)
        base = [b + v for b, v in zip(base, values)]
    (ax.set_xlabel if horizontal else ax.set_ylabel)(unit)
    return base


def _workload(r: dict) -> str:
    w = r["workload"]
    if w.get("isl"):
        return f"{w['batch']:,} requests, ISL {w['isl']:,} / OSL {w['osl']:,}, {w['weights_dtype']} weights"
    return f"batch {w['batch']:,} x context {w['context']:,}, {w['weights_dtype']} weights, KV {w['kv_dtype']}"


def _assumed(r: dict) -> str:
    a = r.get("assumptions", {})
    perf = r.get("perf", {}).get("model")
    shown = ", ".join(f"{k}={a[k]:g}" for k in ("gpu_memory_utilization", "mtp_acceptance", "comm_overlap")
                      if isinstance(a.get(k), (int, float)))
    return "; ".join(x for x in (f"{perf} speeds" if perf else "", shown) if x) or "defaults"


# --- the five kinds -----------------------------------------------------------------------------

def estimate_figure(plt, r: dict):
    """Memory against capacity (per GPU with --gpu, the VRAM floor without) and the split of a
    decode and a prefill step."""
    if "local" in r:
        raise MoecalcError("no picture of a local (offloaded) estimate yet; drop --host", field="--plot")
    GB, mem = 1e9, r["memory"]
    if "deployment" not in r:
        fig, (ax, bx) = _figure(plt, 2, f"{r['model']['name']}: memory floor and parameters",
                                f"{_workload(r)}; {_assumed(r)}")
        experts = r["weights"]["by_component"].get("routed_experts", 0)
        parts = {"routed experts": experts, "other weights": mem["weights_bytes"] - experts,
                 "KV cache": mem["kv_cache_bytes"], "state": mem.get("state_bytes", 0),
                 "activations": mem["activation_workspace_bytes"], "runtime": mem["runtime_overhead_bytes"]}
        _stack(ax, [""], {k: [v / GB] for k, v in parts.items()}, "GB", height=0.5)
        ax.set_ylim(-0.5, 1.6)
        ax.set_yticks([])
        ax.set_title("VRAM floor")
        ax.legend(loc="upper left", ncol=2, fontsize=7, frameon=False)
        p = r["params"]
        shown = [c for c, n in p["by_component"].items() if n]
        y = range(len(shown))
        bx.barh([i + 0.2 for i in y], [p["by_component"][c] / 1e9 for c in shown], 0.4, color=PARTS[0],
                label=f"total {p['total'] / 1e9:,.1f} B")
        bx.barh([i - 0.2 for i in y], [p["active_by_component"][c] / 1e9 for c in shown], 0.4, color=PARTS[1],
                label=f"active {p['active'] / 1e9:,.1f} B")
        bx.set_yticks(list(y), [c.replace("_", " ") for c in shown], fontsize=8)
        bx.set_xscale("log")
        bx.set_xlabel("parameters (B)")
        bx.set_title("total sets memory, active sets compute")
        bx.legend(fontsize=7)
        return fig
    d, per, perf = r["deployment"], mem["per_gpu"], r["perf"]
    fig, (ax, bx) = _figure(plt, 2, f"{r['model']['name']} on {d['gpus']} x {r['hardware']['name']} "
                                    f"(TP{d['tp']} EP{d['ep']} DP{d['dp']} PP{d['pp']})",
                            f"{_workload(r)}; {_assumed(r)}")
    experts = per["weights_by_component"].get("routed_experts", 0)
    parts = {"routed experts": experts, "other weights": per["weights_bytes"] - experts,
             "KV cache": per["kv_cache_bytes"], "state": per.get("state_bytes", 0),
             "activations": per["activation_workspace_bytes"], "runtime": per["runtime_overhead_bytes"],
             "comm buffers": per.get("comm_buffer_bytes", 0)}
    _stack(ax, [""], {k: [v / GB] for k, v in parts.items()}, "GB per GPU", height=0.5)
    ax.axvline(mem["capacity_per_gpu_bytes"] / GB, color="black", lw=1.2, label="capacity")
    ax.axvline(mem["usable_per_gpu_bytes"] / GB, color="black", lw=1, ls="--", label="usable")
    ax.set_ylim(-0.5, 1.6)
    ax.set_yticks([])
    ax.set_title("memory per GPU (the fullest)")
    ax.legend(loc="upper left", ncol=2, fontsize=7, frameon=False)
    steps = [s for s in ("decode", "prefill") if isinstance(perf.get(s), dict)]
    terms = (("compute", "compute"), ("memory", "memory"), ("comm", "comm"), ("launches", "overhead"))
    width = 0.8 / len(steps)
    for j, step in enumerate(steps):
        bx.bar([i + (j - (len(steps) - 1) / 2) * width for i in range(len(terms))],
               [perf[step][f"{key}_seconds"] * 1e3 for _, key in terms], width, color=PARTS[j], label=f"{step} step")
    bx.set_xticks(range(len(terms)), [n for n, _ in terms])
    bx.set_yscale("log")
    bx.set_ylabel("ms, each term alone")
    tpot, ttft = perf.get("tpot_seconds"), perf.get("ttft_seconds")
    bx.set_title("step terms" + (f" (TPOT {tpot * 1e3:,.1f} ms, TTFT {ttft * 1e3:,.0f} ms)"
                                        if tpot and ttft else ""))
    bx.legend(fontsize=7)
    return fig


def compare_figure(plt, result: dict):
    """Parameters (total and active), memory and FLOPs per token side by side, and one
    sequence's KV cache and memory floor against context (``kv_cache_by_context``,
    ``vram_floor_by_context``)."""
    models = result["models"]
    names = [m["name"] for m in models]
    first = models[0]
    twin = {"dense-equal-total": "dense twin, = total", "dense-equal-active": "dense twin, = active"}
    short = [twin.get(m["kind"]) or (n if len(n) <= 16 else n[:15] + "…") for m, n in zip(models, names)]
    own = [m["name"] for m in models if m["kind"] not in twin]
    fig, axes = _figure(plt, 4, " vs ".join(own if len(own) < 4 else [own[0], "..."])
                        + (" and its dense twins" if any(m["kind"] in twin for m in models) else ""),
                        f"{_workload(first)}; {_assumed(first)}")
    x = range(len(names))
    ax = axes[0]
    ax.bar([i - 0.2 for i in x], [m["params"]["total"] / 1e9 for m in models], 0.4, color=PARTS[0], label="total")
    ax.bar([i + 0.2 for i in x], [m["params"]["active"] / 1e9 for m in models], 0.4, color=PARTS[1], label="active")
    ax.set_ylabel("parameters (B)")
    ax.set_title("parameters")
    ax.legend(fontsize=7)
    axes[1].bar(list(x), [m["memory"]["vram_floor_bytes"] / 1e9 for m in models], color=PARTS[2])
    axes[1].set_ylabel("GB")
    axes[1].set_title("VRAM floor")
    axes[2].bar(list(x), [m["flops"]["decode_per_token"] / 1e9 for m in models], color=PARTS[3])
    axes[2].set_ylabel("GFLOP per decode token")
    axes[2].set_title("compute")
    for a in axes[:3]:
        a.set_xticks(list(x), short, rotation=30, ha="right", fontsize=7)
    cx = axes[3]
    for i, m in enumerate(models):
        colour = palette()[i % 10]
        ctx = [int(c) for c in m["kv_cache_by_context"]]
        cx.plot(ctx, [v / 1e9 for v in m["vram_floor_by_context"].values()], color=colour, label=f"{short[i]} floor")
        cx.plot(ctx, [v / 1e9 for v in m["kv_cache_by_context"].values()], color=colour, ls="--", label=f"{short[i]} KV")
    cx.set_xscale("log", base=2)
    cx.set_xticks([1024, 32768, 1048576], ["1K", "32K", "1M"])
    cx.set_yscale("log")
    cx.set_xlabel("context, 1 sequence")
    cx.set_ylabel("GB")
    cx.set_title("memory vs context")
    cx.legend(fontsize=6, loc="lower right")
    return fig


def sweep_figure(plt, result: dict):
    """The throughput-interactivity frontier of each GPU type, and the cost-latency frontier."""
    fig, (ax, bx) = _figure(plt, 2, f"{result['model']['name']}: {len(result['interactivity_by_gpu'])} GPU types swept",
                            f"{result['summary']['configs_enumerated']:,} configurations, "
                            f"{result['summary']['feasible']:,} feasible; calibrated speeds; "
                            f"objective {result['summary']['objective']}")
    for gpu, rows in result["interactivity_by_gpu"].items():
        ax.plot([r["tokens_per_s_per_user"] for r in rows], [r["tokens_per_s_per_gpu"] for r in rows],
                marker="o", ms=3, color=gpu_colour(gpu), label=gpu)
    ax.set_yscale("log")
    ax.set_xlabel("output tokens/s per user")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_title("throughput vs interactivity")
    ax.legend(fontsize=7)
    seen = set()
    for row in result["pareto"]:
        gpu = row["deployment"]["gpu"]
        bx.scatter(row["perf"]["tpot_seconds"] * 1e3, row["cost"]["usd_per_million_output_tokens"],
                   color=gpu_colour(gpu), s=14, label=None if gpu in seen else gpu)
        seen.add(gpu)
    bx.set_yscale("log")
    bx.set_xlabel("TPOT (ms)")
    bx.set_ylabel("$ per million output tokens")
    bx.set_title("cost-latency frontier")
    if seen:
        bx.legend(fontsize=7)
    return fig


def route_figure(plt, r: dict):
    """Each expert's and each rank's share of the routed assignments against uniform."""
    fig, (ax, bx) = _figure(plt, 2, f"{r['model']['name']}: {r['routing']['describe']}, {r['tokens']:,} tokens",
                            f"EP{r['ep']}, {r['redundant_experts']} redundant experts, seed {r['routing']['seed']}")
    counts, expected = r["experts"]["counts"], r["experts"]["expected_share"]
    total = sum(counts) or 1
    order = sorted(range(len(counts)), key=lambda e: (-expected[e], e))      # hottest expected first
    ax.bar(range(len(counts)), [counts[e] / total for e in order], width=1.0, color=PARTS[0], label="drawn")
    ax.plot(range(len(counts)), [expected[e] for e in order], color="black", lw=1, label="expected")
    ax.set_yscale("log")
    ax.set_xlabel("expert, by expected load")
    ax.set_ylabel("share of assignments")
    ax.set_title("load per expert")
    ax.legend(fontsize=7)
    tokens = r["ranks"]["tokens"]
    total = sum(tokens) or 1
    bx.bar(range(len(tokens)), [t / total for t in tokens], color=PARTS[1], label="drawn")
    bx.plot(range(len(tokens)), r["ranks"]["expected_share"], color="black", ls="none", marker="_", ms=10,
            mew=1.5, label="expected")
    bx.set_xlabel("expert-parallel rank")
    bx.set_ylabel("share of assignments")
    bx.set_title("load per rank")
    bx.legend(fontsize=7)
    return fig


def train_figure(plt, r: dict):
    """The step bound's time split and the memory per GPU against capacity."""
    t, d, mem = r["train"], r["deployment"], r["memory"]
    usd = f", ${t['usd'] / 1e6:,.2f}M" if t["usd"] is not None else ""
    fig, (ax, bx) = _figure(plt, 2, f"{r['model']['name']}: {t['tokens'] / 1e12:,.2f}T tokens on {d['gpus']:,} x "
                                    f"{d['gpu']}, {t['gpu_hours'] / 1e6:,.2f}M GPU-hours{usd}",
                            f"MFU {t['mfu']:.0%} (an input), {t['precision']} GEMMs, TP{d['tp']} PP{d['pp']} "
                            f"DP{d['dp']} EP{d['ep']}, {d['recompute']} recomputation")
    sec = t["step_bound"]["seconds"]
    names = [("compute", "compute"), ("expert all-to-all", "expert_alltoall"), ("TP all-reduce", "tp_allreduce"),
             ("data parallel", "data_parallel"), ("pipeline bubble", "pipeline_bubble")]
    ax.bar([n for n, _ in names], [sec[k] for _, k in names], color=PARTS[:5])
    ax.set_ylabel("seconds a step")
    ax.set_title("where a step's time goes (the bound)")
    ax.set_xticks(range(len(names)), [n for n, _ in names], rotation=30, ha="right", fontsize=7)
    per = mem["per_gpu"]
    _stack(bx, [""], {"weights and grads": [per["weights_and_grads_bytes"] / 1e9],
                      "optimizer": [per["optimizer_bytes"] / 1e9],
                      "activations": [per["activations_bytes"] / 1e9]}, "GB per GPU", height=0.5)
    bx.axvline(mem["capacity_per_gpu_bytes"] / 1e9, color="black", lw=1.2, label="capacity")
    bx.set_ylim(-0.5, 1.6)
    bx.set_yticks([])
    bx.set_title("memory per GPU (first stage)")
    bx.legend(loc="upper left", ncol=2, fontsize=7, frameon=False)
    return fig


KINDS = {"estimate": estimate_figure, "compare": compare_figure, "sweep": sweep_figure, "route": route_figure,
         "train": train_figure}


def figure(kind: str, result: dict):
    """The matplotlib figure of ``kind`` for ``result`` (what ``--format json`` writes)."""
    return KINDS[kind](_pyplot(), result)


def save(kind: str, result: dict, path: str, force: bool = False) -> None:
    """Draw ``result`` into ``path`` (.png or .svg), atomically, with no timestamp in the file."""
    from moecalc.files import atomic_writer

    plt = _pyplot()
    fig = KINDS[kind](plt, result)
    fmt = Path(path).suffix.lower()[1:]
    metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
    try:
        with atomic_writer(path, force, "--plot", binary=True) as fh:
            fig.savefig(fh, format=fmt, dpi=DPI, metadata=metadata)
    finally:
        plt.close(fig)
