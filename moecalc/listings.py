"""Rows for ``moecalc models`` and ``moecalc hardware``: the bundled specs and the hardware
catalog, in SI units (the renderer adds labels)."""

from __future__ import annotations

from moecalc.spec.load import bundled_specs, load_spec_text


def bundled_summary() -> list[dict]:
    """One row per bundled spec: name, family, total, active, source."""
    rows = []
    for key, text in bundled_specs().items():
        spec = load_spec_text(text, f"{key} (bundled)")
        p = spec.numbers().params
        rows.append({"name": key, "family": spec.family, "total": p.total, "active": p.active,
                     "source": spec.source})
    return rows


def hardware_rows(catalog) -> list[dict]:
    """One row per known GPU, in SI units (bytes, bytes/s, FLOP/s), with its price's basis
    (``moecalc.prices.price_basis``); the renderer adds labels."""
    from moecalc.prices import price_basis

    rows = []
    for key, a in catalog.accelerators.items():
        rows.append({
            "gpu": key, "name": a.name, "aliases": ", ".join(a.aliases), "vendor": a.vendor,
            "memory_bytes": a.memory_bytes, "memory_basis": a.memory_basis, "hbm_bytes_per_s": a.hbm_bytes_per_s,
            **{f"dense_{d}_flops": a.peak_flops(d) or None for d in ("bf16", "fp8", "fp4")},
            "scale_up": a.scale_up,
            "scale_up_bytes_per_s": catalog.interconnects[a.scale_up].bytes_per_s,
            "scale_up_domain": a.scale_up_domain, "scale_out": a.scale_out,
            "scale_out_bytes_per_s": catalog.interconnects[a.scale_out].bytes_per_s if a.scale_out else None,
            "tdp_w": a.tdp_w, "price_usd_per_hour": a.price_usd_per_hour,
            **{k: ", ".join(v) if isinstance(v, list) else v             # one CSV cell, as aliases
               for k, v in price_basis(a).items() if k != "price_per_gpu_hour"},
            "origin": catalog.origin[key],
        })
    return rows


def interconnect_rows(catalog) -> list[dict]:
    return [{"interconnect": k, "kind": v.kind, "bytes_per_s_per_direction": v.bytes_per_s,
             "latency_s": v.latency_s, "description": v.description, "source": v.source}
            for k, v in catalog.interconnects.items()]


def host_rows(catalog) -> list[dict]:
    """Every host profile (``--host``): memory, bandwidth, cores, CPU peaks, its link to the GPUs."""
    return [{"host": key, "name": h.name, "memory_bytes": h.memory_bytes, "bandwidth_bytes_per_s": h.bandwidth_bytes_per_s,
             "sockets": h.sockets, "cores": h.cores, "fp32_flops": h.peak_flops("fp32"),
             "bf16_flops": h.peak_flops("bf16"), "int8_ops": h.peak_flops("int8"), "pcie": h.pcie, "source": h.source}
            for key, h in (catalog.hosts or {}).items()]
