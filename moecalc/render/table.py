"""Rich tables for ``moecalc estimate`` and ``moecalc models``."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from moecalc.assumptions import DECLARED, DOCS
from moecalc.prices import flagged
from moecalc.render import units as u

LABELS = {"embedding": "embedding", "attention": "attention", "dense_ffn": "dense FFN",
          "routed_experts": "routed experts", "shared_experts": "shared experts", "router": "router",
          "norms": "norms", "lm_head": "lm_head", "non_expert": "non-expert (not separable)",
          "projection": "eh projection", "mixer": "recurrent mixer", "vision": "vision tower"}


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column(columns[0])
    for c in columns[1:]:
        t.add_column(c, justify="right")
    return t


def tradeoff_line(r: dict) -> str:
    """The MoE trade-off in one sentence: memory of the total, compute of the active."""
    p, w = r["params"], r["weights"]
    if p["active"] >= p["total"]:
        return (f"Dense model: all {u.params(p['total'])} parameters are read for every token; "
                f"memory and compute both scale with the total.")
    return (f"MoE trade-off: memory is set by all {u.params(p['total'])} parameters "
            f"({u.gb(w['bytes'])} in {w['dtype']}); compute by the {u.params(p['active'])} active per token "
            f"({p['active_fraction']:.1%}), so a dense model of the same memory would spend "
            f"{p['total_per_active']:.1f}x the matmul FLOPs per token.")


def estimate_view(r: dict) -> Group:
    if "deployment" in r:
        return deployment_view(r)
    if "local" in r:
        return local_view(r)
    p, m, f, kv, wl = r["params"], r["memory"], r["flops"], r["kv_cache"], r["workload"]
    head = Text()
    head.append(r["model"]["name"], style="bold")
    head.append(f"  ({r['model']['family']}, {r['model']['form']} form)")
    if r["model"]["source"]:
        head.append(f"\nsource: {r['model']['source']}", style="dim")
    head.append(f"\nworkload: context {wl['context']:,} tokens, batch {wl['batch']:,}, "
                f"weights {wl['weights_dtype']}, KV cache {wl['kv_dtype']}")

    pt = _table("Parameters", "component", "total", "active", "weights")
    for c, n in p["by_component"].items():
        if n:
            pt.add_row(LABELS.get(c, c), u.params(n), u.params(p["active_by_component"][c]),
                       u.gb(r["weights"]["by_component"][c]))
    pt.add_section()
    pt.add_row(Text("total", style="bold"), u.params(p["total"]),
               f"{u.params(p['active'])} ({p['active_fraction']:.1%})", u.gb(r["weights"]["bytes"]))
    if p["mtp"]:
        pt.add_row("MTP modules (not in total)", u.params(p["mtp"]), "", "")
    from moecalc.report import ACTIVE_CONVENTIONS

    card = p.get("card_active")
    if card and card["convention"] != ACTIVE_CONVENTIONS[0]:          # ours: nothing to add
        pt.add_row("the card's count", "", u.params(card["stated"]), "")
        pt.caption = (f"active counts every parameter a token uses, embedding and output head included; the "
                      f"card's {u.params(card['stated'])} is the count {card['convention']}: "
                      f"{u.params(card['derived'])} here")
        pt.caption_justify = "left"

    mt = _table("Memory (VRAM floor)", "part", "GB", "GiB")
    rows = (("weights", m["weights_bytes"]), (f"KV cache ({wl['batch']:,} x {wl['context']:,} tokens)", m["kv_cache_bytes"]),
            *((f"recurrent state ({wl['batch']:,} seq, any context)", m["state_bytes"]),) * bool(m.get("state_bytes")),
            ("activation workspace", m["activation_workspace_bytes"]),
            ("runtime overhead", m["runtime_overhead_bytes"]))
    for name, n in rows:
        mt.add_row(name, u.gb(n), u.gib(n))
    mt.add_section()
    mt.add_row(Text("VRAM floor", style="bold"), u.gb(m["vram_floor_bytes"]), u.gib(m["vram_floor_bytes"]))

    ft = _table(f"FLOPs per token (context {wl['context']:,})", "", "prefill", "decode")
    ft.add_row("matmul (2 x active, no input embedding)", u.flops(f["prefill"]["matmul"]), u.flops(f["decode"]["matmul"]))
    ft.add_row("attention (QK^T + AV)" + (" and recurrence" if kv.get("state_bytes_per_sequence") else ""),
               u.flops(f["prefill"]["attention"]), u.flops(f["decode"]["attention"]))
    ft.add_section()
    ft.add_row(Text("total", style="bold"), u.flops(f["prefill_per_token"]), u.flops(f["decode_per_token"]))

    layers = ", ".join(f"{n} {kind}" for kind, n in kv["layers"].items() if n)
    kvt = _table("KV cache", "", "")
    kvt.show_header = False
    kvt.add_row("per token", u.bytes_small(kv["bytes_per_token"]))
    kvt.add_row(f"for the workload ({wl['batch']:,} x {wl['context']:,})", f"{u.gb(kv['bytes'])} = {u.gib(kv['bytes'])}")
    kvt.add_row("layers", layers)
    kvt.add_row("values per token per layer", f"{kv['elements_per_token_per_layer']:,} ({kv['dtype']})")
    if kv.get("state_bytes_per_sequence"):
        kvt.add_row("recurrent state per sequence (constant)", u.bytes_small(kv["state_bytes_per_sequence"]))

    at = _assumptions_table(r)

    parts = [head, pt, mt, ft, kvt, at, Text(tradeoff_line(r), style="bold")]
    if r.get("routing") and r["routing"]["model"] != "uniform":
        parts.append(Text(routing_line(r)))
    if r.get("checkpoint"):
        parts.append(Text(checkpoint_line(r["checkpoint"])))
    for w in r["warnings"]:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def _assumptions_table(r: dict) -> Table:
    at = _table("Assumptions (override with --assume NAME=VALUE)", "name", "value")
    at.add_column("meaning", justify="left")
    for name, value in r["assumptions"].items():
        kind = DECLARED[name]["kind"] if name in DECLARED else None
        shown = u.gib(value) if kind == "size" else str(value)
        at.add_row(name, shown, Text(DOCS.get(name, ""), style="dim"))
    return at


def routing_line(r: dict) -> str:
    """The router in one line: its model, how many experts it really uses, and (served) what the
    hottest rank and the experts a step reads come to."""
    rt, wl = r["routing"], r["workload"]
    text = f"routing: {rt['describe']}"
    limit = r.get("comm", {}).get("routing_limit")
    if limit:
        text += f", {limit}"
    text += (f"; {rt['effective_experts']:,.1f} effective experts; a step of {wl['batch']:,} touches "
             f"{rt['distinct_experts_per_step']:,.1f} experts per MoE layer"
             + ("" if rt["model"] == "uniform" else f" (uniform: {rt['distinct_experts_per_step_uniform']:,.1f})"))
    if "straggler" in rt:
        text += (f"; hottest EP rank {rt['straggler']:.2f}x an even share, the fullest GPU reads "
                 f"{rt['experts_touched_fraction']:.1%} of its experts")
        if rt["dropped_share"] or rt["rerouted_share"]:
            text += (f"; {rt['dropped_share'] + rt['rerouted_share']:.1%} of assignments over capacity "
                     f"({rt['overflow']})")
    return text


def _bar(share: float, width: int = 24) -> str:
    filled = int(round(min(max(share, 0.0), 1.0) * width))
    return "#" * filled + "." * (width - filled)


def deployment_view(r: dict) -> Group:
    """One screen: the layout, per-GPU memory against capacity, the step-time split, the cost."""
    d, hw, m, pf, c, wl, p = r["deployment"], r["hardware"], r["memory"], r["perf"], r["cost"], r["workload"], r["params"]
    pg = m["per_gpu"]
    head = Text()
    head.append(f"{r['model']['name']}", style="bold")
    head.append(f" on {d['gpus']} x {hw['name']}", style="bold")
    layout = f"TP{d['tp']} x DP{d['dp']} x PP{d['pp']}"
    if d["expert_tp"] is not None:
        layout += f", EP{d['ep']}" + (f" (expert TP{d['expert_tp']})" if d["expert_tp"] > 1 else "")
        if d["redundant_experts"]:
            layout += f", +{d['redundant_experts']} redundant experts"
    head.append(f"\nlayout: {layout}; {d['nodes']} node{'s' * (d['nodes'] > 1)} of {d['gpus_per_node']} "
                f"({d['layout_chosen']})")
    if d.get("expert_sharding"):
        head.append(f"\nexperts: {d['expert_sharding']}")
    flags = d.get("serving_flags") or {}
    if flags:
        head.append("\nrun it: " + "; ".join(f"{name} {flags[stack]}" for stack, name in
                                              (("vllm", "vLLM"), ("sglang", "SGLang"), ("trtllm", "TRT-LLM"))))
    head.append(f"\nworkload: batch {wl['batch']:,} sequences x context {wl['context']:,}, weights "
                f"{wl['weights_dtype']}, KV {wl['kv_dtype']}; params {u.params(p['total'])} total, "
                f"{u.params(p['active'])} active")

    cap = m["capacity_per_gpu_bytes"]
    mt = _table("Memory per GPU (the fullest GPU)", "part", "GB", "share of capacity")
    w = pg["weights_by_component"]
    routed = w.get("routed_experts", 0.0)
    rows = [("weights: routed experts", routed)] if routed else []
    rows.append(("weights: everything else" if routed else "weights", pg["weights_bytes"] - routed))
    rows += [(f"KV cache ({m['sequences_per_replica']:,} seq x {wl['context']:,})", pg["kv_cache_bytes"])]
    if pg.get("state_bytes"):
        rows.append((f"recurrent state ({m['sequences_per_replica']:,} seq, any context)", pg["state_bytes"]))
    rows += [("activation workspace", pg["activation_workspace_bytes"]),
             ("runtime overhead + comm buffers", pg["runtime_overhead_bytes"] + pg["comm_buffer_bytes"])]
    for name, n in rows:
        mt.add_row(name, u.gb(n), f"{n / cap:6.1%}")
    mt.add_section()
    verdict = Text("fits", style="bold green") if m["fits"] else Text("does NOT fit", style="bold red")
    mt.add_row(Text("total", style="bold"), u.gb(m["per_gpu_bytes"]), f"{m['per_gpu_bytes'] / cap:6.1%}")
    basis = "reported" if hw["memory_basis"] == "reported GiB" else "vendor label"
    mt.add_row(f"capacity ({basis}; = {u.gib(cap)})", u.gb(cap), "100.0%")
    usable = m["usable_per_gpu_bytes"]
    mt.add_row(f"usable (gpu_memory_utilization {r['assumptions']['gpu_memory_utilization']:g})", u.gb(usable),
               f"{usable / cap:6.1%}")
    mt.add_row(verdict, "", _bar(m["per_gpu_bytes"] / cap))
    ctx = "16M+ (capped)" if m["max_context"] is None else f"{m['max_context']:,}"
    mt.add_row("largest batch at this context", f"{m['max_batch']:,}", "")
    mt.add_row(f"longest context at batch {wl['batch']:,}", ctx, "")

    if not m["fits"]:
        st = Text(f"does not fit: {u.gb(m['per_gpu_bytes'])} on the fullest GPU, {u.gb(m['usable_per_gpu_bytes'])} "
                  f"usable; no speed or cost (give more --gpus, a smaller --batch or a lower-bit dtype)",
                  style="bold red")
        tt = Text("")
    elif wl.get("mode"):
        st, tt = _request_tables(r)
    else:
        st, tt = _decode_tables(r)
    parts = [head, mt, st, tt]
    a2a = r["comm"]
    if a2a["a2a_seconds_per_layer"]:
        parts.append(Text(
            f"all-to-all per MoE layer and decode step: {a2a['a2a_bytes_per_token_layer']:,.0f} B per token "
            f"({a2a['dispatch_dtype']} dispatch + {a2a['combine_dtype']} combine) to "
            f"{a2a['remote_ranks_per_token']:.2f} remote GPUs"
            + (f" on {a2a['remote_nodes_per_token']:.2f} remote nodes" if a2a["remote_nodes_per_token"] else "")
            + f"; {u.seconds(a2a['a2a_seconds_per_layer'])} (scale-up {u.seconds(a2a['a2a_scaleup_seconds_per_layer'])}, "
            f"scale-out {u.seconds(a2a['a2a_scaleout_seconds_per_layer'])})"))
    if "routing" in r:
        parts.append(Text(routing_line(r)))
    shown = (("comm_overlap", "load_fluctuation") if r["perf"].get("model") == "calibrated" else
             ("mfu", "hbm_efficiency", "scaleup_efficiency", "scaleout_efficiency", "comm_overlap", "load_fluctuation"))
    used = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in r["assumptions"].items() if k in shown)
    if c.get("price_as_of"):                # the day a catalog price was judged dated, stale or undated on
        used += f", prices as of MOECALC_TODAY={c['price_as_of']}"
    parts.append(Text(f"assumptions: {model_line(r)}, {used} (all in --format json; override with --assume)",
                      style="dim"))
    for note in d["notes"]:
        parts.append(Text(f"note: {note}", style="yellow"))
    if r.get("checkpoint"):
        parts.append(Text(checkpoint_line(r["checkpoint"]), style="dim"))
    for warning in r["warnings"]:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def _short_source(source: str | None) -> str:
    """'https://huggingface.co/org/repo/blob/main/config.json; ...' -> 'org/repo'."""
    first = (source or "").split(";")[0].strip()
    return first.removeprefix("https://huggingface.co/").removesuffix("/blob/main/config.json")


def models_view(rows: list[dict]):
    """The bundled models, one line each with the repository id in its own column where the
    terminal holds it, else the id on its own line under the name (never cut or folded)."""
    from moecalc.render.fit import FirstFit

    return FirstFit(_models_wide(rows), _models_narrow(rows))


def _models_wide(rows: list[dict]) -> Table:
    t = _table("Bundled model specs", "name", "family", "total", "active (share)")
    t.add_column("source")
    for c in t.columns:
        c.no_wrap = True
    for row in rows:
        t.add_row(row["name"], row["family"], u.params(row["total"]), _active_share(row),
                  Text(_short_source(row["source"]), style="dim"))
    return t


def _models_narrow(rows: list[dict]) -> Table:
    """Name and family on one line, the repository id under them."""
    t = _table("Bundled model specs", "", "total", "active (share)")
    pad = max((len(r["name"]) for r in rows), default=4)
    t.columns[0].header = f"{'name':<{pad}}  family\n  source"
    for c in t.columns:
        c.no_wrap = True
    for row in rows:
        cell = Text(f"{row['name']:<{pad}}  {row['family']}")
        source = _short_source(row["source"])
        if source:
            cell.append(f"\n  {source}", style="dim")
        t.add_row(cell, u.params(row["total"]), _active_share(row))
    return t


def _active_share(row: dict) -> str:
    return f"{u.params(row['active'])} ({row['active'] / row['total']:.0%})"


def hardware_view(rows: list[dict]):
    """Known GPUs, every cell whole: at 80 columns the columns are two spaces apart, not three."""
    from moecalc.render.fit import FirstFit

    return FirstFit(_hardware_table(rows, "scale-up x GPUs", (0, 1)),
                    _hardware_table(rows, "scale-up\nx GPUs", (0, 1, 0, 0)))


def _hardware_table(rows: list[dict], scale_up: str, padding: tuple) -> Table:
    t = _table("Known GPUs: capacity (GB = 1e9 B), HBM TB/s, dense peak TFLOP/s, links GB/s per direction",
               "gpu", "memory", "HBM", "bf16", "fp8", "fp4", scale_up, "NIC", "$/GPU-h")
    t.padding = padding
    for c in t.columns:
        c.no_wrap = True
    tf = lambda v: "-" if not v else f"{v / 1e12:,.0f}"  # noqa: E731
    for r in rows:
        t.add_row(r["gpu"], f"{r['memory_bytes'] / 1e9:,.0f} GB", f"{r['hbm_bytes_per_s'] / 1e12:.2f}",
                  tf(r["dense_bf16_flops"]), tf(r["dense_fp8_flops"]), tf(r["dense_fp4_flops"]),
                  f"{r['scale_up_bytes_per_s'] / 1e9:,.0f} x{r['scale_up_domain']}",
                  "-" if r["scale_out"] is None else f"{r['scale_out_bytes_per_s'] / 1e9:,.1f}",
                  "-" if r["price_usd_per_hour"] is None else
                  f"{r['price_usd_per_hour']:.2f}" + ("*" if flagged(r) else ""))
    if any(flagged(r) for r in rows):
        t.caption = "* a stale or undated price: check before quoting (moecalc hardware --format json: its basis)"
        t.caption_justify = "left"
    return t


def interconnects_view(rows: list[dict]) -> Table:
    t = _table("Interconnect profiles (per GPU, one direction)", "name", "kind", "bandwidth", "latency")
    for c in t.columns:                 # the description wraps between words; the rest stays whole
        c.no_wrap = True
    t.add_column("description", overflow="fold")
    for r in rows:
        t.add_row(r["interconnect"], r["kind"], f"{r['bytes_per_s_per_direction'] / 1e9:,.1f} GB/s",
                  u.seconds(r["latency_s"]), Text(r["description"], style="dim"))
    return t


def print_view(view, width: int | None = None) -> None:
    Console(width=width).print(view)


def _decode_tables(r: dict):
    """A decode step at one context: its time split, then throughput and cost."""
    d, hw, pf, c = r["deployment"], r["hardware"], r["perf"], r["cost"]
    dec = pf["decode"]
    st = _table(f"Decode step (one token per sequence; largest term: {pf['bound']})", "part", "time", "range")
    st.columns[2].style = "dim"
    overlap = r["assumptions"]["comm_overlap"]
    peaks = (f"{hw['compute_dtype']} peak {u.rate(hw['peak_flops'], 'FLOP')}"
             if pf.get("model") == "bound" or hw["compute_dtype"] == hw["dense_compute_dtype"] == hw["attention_compute_dtype"]
             else f"experts {hw['compute_dtype']}, rest {hw['dense_compute_dtype']}, attention "
                  f"{hw['attention_compute_dtype']}")
    st.add_row(f"compute ({peaks} x eff)", u.seconds(dec["compute_seconds"]), "")
    st.add_row(f"memory ({u.gb(dec['weights_read_bytes'])} weights touched + KV, "
               f"{u.rate(hw['hbm_bytes_per_s'], 'B')} x eff)", u.seconds(dec["memory_seconds"]), "")
    st.add_row("communication (all-to-all + all-reduce)", u.seconds(dec["comm_seconds"]), "")
    if dec.get("overhead_seconds"):
        st.add_row(f"layer launches and sync ({r['assumptions']['layer_overhead_us']:.0f} us a layer)",
                   u.seconds(dec["overhead_seconds"]), "")
    if r["comm"]["pp_seconds_per_step"]:
        st.add_row("pipeline transfers", u.seconds(r["comm"]["pp_seconds_per_step"]), "")
    st.add_section()
    how = ("max(compute, memory, comm)" if overlap == 1 else "max(compute, memory) + comm" if not overlap
           else f"max(compute, memory, {overlap:g} comm) + {1 - overlap:g} comm")
    if dec.get("overhead_seconds"):
        how += " + launches"
    st.add_row(Text(f"TPOT = {how}" + (f" x PP{d['pp']}" if d["pp"] > 1 else ""), style="bold"),
               u.seconds(pf["tpot_seconds"]), band(r, "perf", "tpot_seconds", u.seconds))
    st.add_row("TTFT (one prompt of the context length)", u.seconds(pf["ttft_seconds"]),
               band(r, "perf", "ttft_seconds", u.seconds))

    tt = _table("Throughput and cost", "", "")
    tt.show_header = False
    tt.add_row("output tokens/s, deployment", f"{pf['tokens_per_s']:,.1f}")
    tt.add_row("output tokens/s per GPU", f"{pf['tokens_per_s_per_gpu']:,.1f}")
    if c["usd_per_hour"] is None:
        tt.add_row("$ per million output tokens", "n/a: no price (--price-per-hour)")
    else:
        tt.add_row("price", f"{u.usd(c['price_per_gpu_hour'])}/GPU-hour x {d['gpus']} = {u.usd(c['usd_per_hour'])}/hour")
        dollars = u.usd(c["usd_per_million_output_tokens"])
        spread = band(r, "cost", "usd_per_million_output_tokens", u.usd)
        tt.add_row(Text("$ per million output tokens", style="bold"),
                   Text(f"{dollars} ({spread})" if spread else dollars, style="bold"))
        tt.add_row("price source", Text(str(c["price_source"]), style="dim"))
        _basis_row(tt, c)

    return st, tt


def _basis_row(t: Table, c: dict, *blank: str) -> None:
    """Under the price's source, a catalog price that is stale or undated: its kind, why, and
    "check before quoting" (a dated price's source line already gives its date; a price the user
    gave is not judged)."""
    from moecalc.render.prices import basis

    if flagged(c):
        t.add_row("price basis", Text(basis(c), style="yellow"), *blank)


def band(r: dict, section: str, key: str, fmt) -> str:
    """The calibrated range of a value, '(lo-hi)'; on the bound, 'a bound'."""
    if r["perf"].get("model") == "bound":
        return "a bound"
    values = r[section].get(key + "_range")
    if not values:
        return ""
    lo, hi = fmt(values[0]), fmt(values[1])
    unit = lo.rsplit(" ", 1)[-1] if " " in lo else None
    if unit and hi.endswith(" " + unit):
        return f"{lo.rsplit(' ', 1)[0]}-{hi}"
    return f"{lo}-{hi}"


def model_line(r: dict) -> str:
    """Which model produced the speeds, and what its range means."""
    if r["perf"].get("model") == "bound":
        return "profile=bound (the pure roofline: a bound real engines do not reach)"
    return (f"profile=calibrated (fitted to published measurements; a range is the 10th-90th percentile of "
            f"held-out errors, {r['perf']['band_regime']} regime)")


def _request_tables(r: dict):
    """A request workload: latencies and rates as a request and the deployment see them, then
    what the GPU time costs per output token, per prompt token and per request."""
    d, pf, c, wl = r["deployment"], r["perf"], r["cost"], r["workload"]
    mode = wl["mode"]
    st = _table(f"Requests: {mode}, {wl['isl']:,} in / {wl['osl']:,} out"
                + (f", MTP {wl['mtp_tokens']} drafts ({pf['tokens_per_step']:.2f} tokens per step)"
                   if wl["mtp_tokens"] else "") + f", {wl['batch']:,} concurrent", "", "", "range")
    st.columns[2].style = "dim"

    def row(name, value, fmt, key=None):
        st.add_row(name, "n/a" if value is None else fmt(value),
                   band(r, "perf", key, fmt) if key and value is not None else "")

    pools = r.get("pools")
    if pools and pools.get("layout"):
        pr, de = pools["prefill"], pools["decode"]
        st.add_row(f"pools: {pools['layout']} ({pools['prefill_per_decode']:.2f} prefill per decode)",
                   f"{pools['gpus']:,} GPUs")
        st.add_row(f"  prefill: {pools['prefill_instances']} x {pr['gpus']} {pr['gpu']} (TP{pr['tp']} DP{pr['dp']} "
                   f"EP{pr['ep']}), {pools['prefill_batch']:,} prompts a forward", u.seconds(pr["ttft_seconds"]))
        st.add_row(f"  decode: {pools['decode_instances']} x {de['gpus']} {de['gpu']} (TP{de['tp']} DP{de['dp']} "
                   f"EP{de['ep']})", u.seconds(de["tpot_seconds"]))
        st.add_row("  KV transfer of one prompt", u.seconds(pools["kv_transfer_seconds"]))
    ttft_how = "prefill pool + KV transfer" if pools else "wait + prompt chunks"
    row(f"TTFT ({ttft_how})", pf["ttft_seconds"], u.seconds, "ttft_seconds")
    row("TPOT as a request sees it (prefill stalls included)", pf["tpot_seconds"], u.seconds, "tpot_seconds")
    row("output tokens/s per user", pf["tokens_per_s_per_user"], lambda v: f"{v:,.1f}")
    row("output tokens/s per GPU", pf["tokens_per_s_per_gpu"], lambda v: f"{v:,.1f}", "tokens_per_s_per_gpu")
    row("input tokens/s per GPU", pf["input_tokens_per_s_per_gpu"], lambda v: f"{v:,.1f}", "input_tokens_per_s_per_gpu")
    row("requests/s, deployment", pf["requests_per_s"], lambda v: f"{v:,.2f}")
    tt = _table("Cost (all GPU time, prefill included)", "", "", "range")
    tt.columns[2].style = "dim"
    if c["usd_per_hour"] is None:
        tt.add_row("$ per million output tokens", "n/a: no price (--price-per-hour)")
        return st, tt
    if pools:                       # both pools' GPU time: x prefill and y decode instances at their prices
        pr, de = pools["prefill"], pools["decode"]
        tt.add_row("price", f"{pools['prefill_instances']} x {pr['gpus']} {pr['gpu']} at "
                            f"{u.usd(pr['price_per_gpu_hour'])} + {pools['decode_instances']} x {de['gpus']} "
                            f"{de['gpu']} at {u.usd(de['price_per_gpu_hour'])} per GPU-hour = "
                            f"{u.usd(c['usd_per_hour'])}/hour", "")
    else:
        tt.add_row("price", f"{u.usd(c['price_per_gpu_hour'])}/GPU-hour x {d['gpus']} = {u.usd(c['usd_per_hour'])}/hour",
                   "")
    for name, key, bold in (("$ per million output tokens", "usd_per_million_output_tokens", True),
                            ("$ per million input tokens", "usd_per_million_input_tokens", False),
                            ("$ per million tokens, blended", "usd_per_million_tokens", False),
                            ("$ per request", "usd_per_request", False)):
        v = c.get(key)
        fmt = (lambda x: f"${x:.4g}") if key == "usd_per_request" else u.usd
        shown = "n/a" if v is None else fmt(v)
        tt.add_row(Text(name, style="bold" if bold else ""), shown,
                   band(r, "cost", key, fmt) if v is not None and key + "_range" in c else "")
    split = c.get("split") or {}
    if split.get("input_usd_per_million") is not None and split.get("output_usd_per_million") is not None:
        tt.add_row(f"price-sheet split ({c['prefill_share']:.0%} of GPU time is prefill)",
                   f"{u.usd(split['input_usd_per_million'])} in / {u.usd(split['output_usd_per_million'])} out", "")
    if pools and pools["prefill"]["gpu"] != pools["decode"]["gpu"]:
        for role in ("prefill", "decode"):
            tt.add_row(f"{role} price source", Text(str(pools[role]["price_source"]), style="dim"), "")
            _basis_row(tt, pools[role], "")
    else:
        tt.add_row("price source", Text(str(c["price_source"]), style="dim"), "")
        _basis_row(tt, c, "")
    return st, tt


def local_view(r: dict) -> Group:
    """One user on one machine: where each component lives, GPU and host memory against what they
    hold, decode and prefill speed, and the runtime flags that realize the placement."""
    lo, pf, wl, p = r["local"], r["perf"], r["workload"], r["params"]
    head = Text()
    head.append(f"{r['model']['name']} on {lo['gpus']} x {lo['gpu']}" + (f" + host {lo['host']}" if lo["host"] else ""),
                style="bold")
    head.append(f"\nweights {wl['weights_dtype']}, KV {wl['kv_dtype']}; {u.params(p['total'])} total, "
                f"{u.params(p['active'])} active; offload {lo['offload']}: the routed experts of "
                f"{lo['offloaded_moe_layers']} of {lo['moe_layers']} MoE layers in host memory, computed on the "
                f"{lo['expert_compute'].upper()}")
    pt = _table("Where the weights live", "component", "GPU", "host")
    for c, part in lo["placement"].items():
        pt.add_row(LABELS.get(c, c), u.gb(part["gpu_bytes"]), u.gb(part["host_bytes"]))
    mt = _table("Memory (weights, KV cache, workspace, runtime)", "", "used", "holds")
    mt.add_row(f"GPU ({lo['gpus']} x {lo['gpu']})", u.gb(lo["gpu_bytes"]), u.gb(lo["gpu_capacity_bytes"]))
    if lo["host"]:
        mt.add_row(f"host ({lo['host']})", u.gb(lo["host_bytes"]), u.gb(lo["host_capacity_bytes"]))
    mt.add_row(Text("fits" if lo["fits"] else "does NOT fit", style="bold green" if lo["fits"] else "bold red"), "", "")
    st = _table(f"Speed (one user; a prompt of {pf['prompt_tokens']:,} tokens)", "", "")
    st.show_header = False
    read = lo["decode_read_bytes"]
    st.add_row(f"a decoded token reads {u.gb(read['gpu'])} on the GPU, {u.gb(read['host'])} in host memory", "")
    st.add_row(Text("decode tokens/s", style="bold"),
               "n/a" if pf["tokens_per_s_per_user"] is None else f"{pf['tokens_per_s_per_user']:,.1f}")
    st.add_row("prefill tokens/s", "n/a" if pf["prefill_tokens_per_s"] is None else f"{pf['prefill_tokens_per_s']:,.0f}")
    ft = _table("Runtime flags", "runtime", "flags")
    for name, flags_ in lo["runtime_flags"].items():
        ft.add_row(name, flags_)
    a = r["assumptions"]
    parts = [head, pt, mt, st, ft,
             Text(f"assumptions: hbm_efficiency={a['hbm_efficiency']:g}, mfu={a['mfu']:g}, host_bandwidth_efficiency="
                  f"{a['host_bandwidth_efficiency']:g}, cpu_efficiency={a['cpu_efficiency']:g} ({a['cpu_compute_dtype']}), "
                  f"local_overhead_bytes={u.gib(a['local_overhead_bytes'])} (override with --assume)", style="dim")]
    for w in r["warnings"]:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def hosts_view(rows: list[dict]) -> Table:
    t = _table("Known hosts (--host): system memory, its bandwidth, cores and peak TFLOPS", "host", "memory", "GB/s",
               "sockets\nx cores", "fp32", "bf16", "int8", "GPU\nlink")
    for c in t.columns:                 # 79 columns wide: every cell whole at 80
        c.no_wrap = True
    for r in rows:
        t.add_row(r["host"], f"{r['memory_bytes'] / 1e9:,.0f} GB", f"{r['bandwidth_bytes_per_s'] / 1e9:,.1f}",
                  f"{r['sockets']} x {r['cores'] // r['sockets']}", f"{r['fp32_flops'] / 1e12:,.1f}",
                  f"{r['bf16_flops'] / 1e12:,.1f}", f"{r['int8_ops'] / 1e12:,.1f}", r["pcie"])
    return t


def checkpoint_line(c: dict) -> str:
    """What the safetensors headers hold, and whether the config's count agrees."""
    def size(n):
        return u.gb(n) if n >= 1e7 else f"{n:,} B"

    dtypes = ", ".join(f"{d} {size(n)}" for d, n in sorted(c["bytes_by_dtype"].items(), key=lambda kv: -kv[1]))
    files = len(c["files"])
    agree = ("matches the config's count" if c["matches"] else
             f"the config derives {c['derived_params']:,} (see warning)")
    return (f"checkpoint ({files:,} safetensors file{'s' if files != 1 else ''}, headers only): "
            f"{c['params']:,} parameters, {size(c['bytes'])} ({dtypes}); {agree}")


def train_view(r: dict) -> Group:
    """Training cost and per-GPU memory."""
    t, d, mem = r["train"], r["deployment"], r["memory"]
    head = Text(f"{r['model']['name']}: {t['tokens'] / 1e12:,.2f}T tokens at {t['seq_len']:,}, {t['precision']} GEMMs, "
                f"on {d['gpus']:,} x {d['gpu']} (TP{d['tp']}{' x CP' + str(d['cp']) if d['cp'] > 1 else ''} x PP{d['pp']} "
                f"x DP{d['dp']}, EP{d['ep']})", style="bold")
    if d["layout"] != "given":
        head.append(f"\nlayout {d['layout']} (--tp, --pp)", style="dim")
    ct = _table("Compute and cost", "", "")
    ct.show_header = False
    ct.add_row("FLOPs per token (3 x forward; MTP included)", u.flops(t["flops_per_token"]))
    if t["flops_per_token_mtp"]:
        ct.add_row("  of which the MTP modules", u.flops(t["flops_per_token_mtp"]))
    ct.add_row("  of which the router", u.flops(t["router_flops_per_token"]))
    ct.add_row("FLOPs in all", f"{t['flops']:.3e}")
    ct.add_row(f"MFU (against the BF16 dense peak; --train-mfu)", f"{t['mfu']:.0%}")
    ct.add_row("tokens/s per GPU", f"{t['tokens_per_s_per_gpu']:,.0f}")
    ct.add_row(Text("GPU-hours", style="bold"), Text(f"{t['gpu_hours']:,.0f}", style="bold"))
    ct.add_row("days on these GPUs", f"{t['days']:,.1f}")
    ct.add_row("dollars", "n/a: no price (--price-per-hour)" if t["usd"] is None
               else f"${t['usd']:,.0f} at ${t['price_per_gpu_hour']:.2f}/GPU-hour ({t['price_source']})")
    if t["usd"] is not None:
        _basis_row(ct, t)
    if t["energy_mwh"] is not None:
        ct.add_row("energy (GPU TDP x PUE)", f"{t['energy_mwh']:,.0f} MWh")
    b = t["step_bound"]
    bt = _table("Step bound (GEMMs at peak; a bound, not the prediction)", "", "")
    bt.show_header = False
    for name, key in (("compute", "compute"), ("expert all-to-all (exposed)", "expert_alltoall"),
                      ("TP all-reduce", "tp_allreduce"), ("data-parallel (exposed)", "data_parallel"),
                      ("pipeline bubble (1F1B)", "pipeline_bubble")):
        if b["seconds"][key]:
            bt.add_row(f"{name}, s a step", f"{b['seconds'][key]:,.2f}")
    bt.add_row(f"MFU ceiling (transfers hidden)", f"{b['mfu_ceiling']:.0%}")
    bt.add_row(f"MFU with {1 - b['comm_overlap']:.0%} of all-to-all/DP exposed (--train-overlap; TP always)",
               f"{b['mfu_comm_exposed']:.0%}")
    mt = _table("Memory per GPU (a first pipeline stage)", "part", "GB")
    for name, key in (("weights and gradients", "weights_and_grads_bytes"), ("optimizer states", "optimizer_bytes"),
                      (f"activations ({d['recompute']} recomputation)", "activations_bytes")):
        mt.add_row(name, u.gb(mem["per_gpu"][key]))
    mt.add_section()
    mt.add_row(Text("total", style="bold"), u.gb(mem["per_gpu_bytes"]))
    mt.add_row("capacity", u.gb(mem["capacity_per_gpu_bytes"]))
    mt.add_row(Text("fits" if mem["fits"] else "does NOT fit", style="bold green" if mem["fits"] else "bold red"), "")
    mt.add_row(f"largest micro-batch that fits (ZeRO-{mem['zero']})", f"{mem['largest_micro_batch']:,}")
    return Group(head, ct, bt, mt)


def train_compare_view(result: dict) -> Group:
    """Training cost side by side: the sparse model's memory of its total, FLOPs of its active."""
    first = result["models"][0]
    d = first["deployment"]
    t = _table(f"Training {first['train']['tokens'] / 1e12:,.2f}T tokens on {d['gpus']:,} x {d['gpu']} "
               f"(MFU {first['train']['mfu']:.0%})", "model", "total", "active", "GFLOP/tok", "GPU-hours", "x",
               "days", "GB/GPU")
    t.padding = (0, 0)                      # one space between the columns: 80 columns hold them
    for c in t.columns:
        c.no_wrap = True
    for e in result["models"]:
        tr, mem = e["train"], e["memory"]
        t.add_row(e["name"], f"{e['params']['total'] / 1e9:,.1f}B", f"{e['params']['active'] / 1e9:,.1f}B",
                  f"{tr['flops_per_token'] / 1e9:,.1f}", f"{tr['gpu_hours'] / 1e6:,.2f}M",
                  f"{e['ratios']['gpu_hours']:.1f}x", f"{tr['days']:,.0f}",
                  ("! " if not mem["fits"] else "") + f"{mem['per_gpu_bytes'] / 1e9:,.0f}")
    parts = [t]
    layouts = "; ".join(f"{e['name']} TP{e['deployment']['tp']} x PP{e['deployment']['pp']}"
                        + (f" EP{e['deployment']['ep']}" if e["deployment"]["ep"] > 1 else "") for e in result["models"])
    searched = any(e["deployment"]["layout"] != "given" for e in result["models"])
    parts.append(Text(f"layouts{' (searched: the smallest TP x PP that fits, the fewer stages first)' if searched else ''}: "
                      f"{layouts}", style="dim"))
    if "distillation" in result:
        parts.append(Text(result["distillation"], style="dim"))
    if any(not e["memory"]["fits"] for e in result["models"]):
        parts.append(Text("! does not fit this layout's GPUs", style="yellow"))
    return Group(*parts)
