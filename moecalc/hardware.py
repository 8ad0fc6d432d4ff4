"""The accelerator library: bundled profiles plus the user's ``--hardware-file``, looked up by
the names people type (case-insensitive, ``_`` and spaces read as ``-``).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from moecalc.assumptions import Assumptions
from moecalc.engine.records import Hardware, Link
from moecalc.errors import MoecalcError
from moecalc.prices import price_basis
from moecalc.spec import package_path
from moecalc.spec.hardware import COMPUTE_DTYPES, Accelerator, HardwareFile, Host, Interconnect
from moecalc.spec.load import read_text, validation_error
from moecalc.spec.yaml_io import node_line, parse_yaml

BUNDLED_LABEL = "hardware.yaml (bundled)"

# Weight dtype -> tensor-core dtypes tried in order for the compute peak. Weight-only 4-bit
# formats without fp4 tensor cores dequantize to bf16 (W4A16 kernels such as Marlin).
COMPUTE_FOR_WEIGHTS = {
    "fp32": ("fp32",), "bf16": ("bf16", "fp16"), "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", "bf16"), "fp8-tensor": ("fp8", "bf16"), "fp8-channel": ("fp8", "bf16"), "int8": ("int8", "bf16"),
    "int8-channel": ("int8", "bf16"), "int4": ("bf16", "fp16"), "int4-g32": ("bf16", "fp16"), "mxfp4": ("fp4", "bf16", "fp16"), "nvfp4": ("fp4", "bf16", "fp16"),
}


def normalize(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


@dataclass(frozen=True)
class Catalog:
    accelerators: dict[str, Accelerator]
    interconnects: dict[str, Interconnect]
    names: dict[str, str]               # normalized key or alias -> key
    origin: dict[str, str]              # key -> file it came from
    hosts: dict[str, Host] = None       # host key -> its profile (--host)
    host_names: dict[str, str] = None   # normalized key or alias -> host key

    def host(self, name: str) -> tuple[str, Host]:
        key = (self.host_names or {}).get(normalize(name))
        if key is None:
            close = difflib.get_close_matches(normalize(name), list(self.host_names or {}), n=4, cutoff=0.4)
            hint = f"; closest: {', '.join(dict.fromkeys(self.host_names[c] for c in close))}" if close else ""
            raise MoecalcError(f"unknown host {name!r}{hint} (moecalc hardware --hosts lists all)", field="--host")
        return key, self.hosts[key]

    def gpu(self, name: str) -> tuple[str, Accelerator]:
        key = self.names.get(normalize(name))
        if key is None:
            close = difflib.get_close_matches(normalize(name), list(self.names), n=4, cutoff=0.5)
            keys = list(dict.fromkeys(self.names[c] for c in close))
            hint = f"; closest: {', '.join(keys)}" if keys else ""
            raise MoecalcError(f"unknown GPU {name!r}{hint} (moecalc hardware lists all)", field="--gpu")
        return key, self.accelerators[key]

    def link(self, name: str, field: str = "--scale-out", kind: str | None = None) -> Interconnect:
        names = [k for k, v in self.interconnects.items() if kind is None or v.kind == kind]
        found = self.interconnects.get(normalize(name))
        if found is None:
            close = difflib.get_close_matches(normalize(name), names, n=4, cutoff=0.5)
            hint = f"; closest: {', '.join(close)}" if close else f"; known: {', '.join(names)}"
            raise MoecalcError(f"unknown interconnect {name!r}{hint}", field=field)
        if kind is not None and found.kind != kind:
            raise MoecalcError(f"{name!r} is a {found.kind} interconnect, not {kind} (e.g. {', '.join(names[:4])})",
                               field=field)
        return found


def _parse(text: str, label: str) -> tuple[HardwareFile, object]:
    data, root = parse_yaml(text, label)
    if not isinstance(data, dict):
        raise MoecalcError(f"top level must be a mapping with 'accelerators' and/or 'interconnects', "
                           f"not {type(data).__name__}", file=label)
    try:
        return HardwareFile.model_validate(data), root
    except ValidationError as exc:
        raise validation_error(exc, label, root) from None


@functools.lru_cache(maxsize=1)
def _bundled() -> tuple[HardwareFile, object]:
    """The bundled profiles, parsed and validated once per process (they are package data) and
    kept validated in moecalc's cache between runs (``moecalc.cache``: keyed by the file's text;
    ~25 ms of a start). A cached catalog has no YAML nodes (line numbers only locate errors in a
    file, and the bundled one has none)."""
    from moecalc import cache

    text = package_path("data", "hardware.yaml").read_text(encoding="utf-8")
    kept = cache.load("catalog", text.encode())
    if isinstance(kept, HardwareFile):
        return kept, None
    hw, root = _parse(text, BUNDLED_LABEL)
    cache.store("catalog", text.encode(), hw)
    return hw, root


def load_catalog(hardware_file: str | None = None) -> Catalog:
    """Bundled profiles, then the user's file on top (same key: the user's entry wins)."""
    files = [(_bundled(), BUNDLED_LABEL)]
    if hardware_file is not None:
        if not hardware_file.strip():
            raise MoecalcError("must name a YAML file", field="--hardware-file")
        text = read_text(Path(hardware_file), hardware_file, "a hardware file")
        files.append((_parse(text, hardware_file), hardware_file))
    accelerators, interconnects, names, origin = {}, {}, {}, {}
    link_origin = {}            # interconnect -> (file, raw key, YAML root) that defined it last
    for index, ((hw, root), label) in enumerate(files):
        for raw, link in hw.interconnects.items():
            interconnects[normalize(raw)] = link
            link_origin[normalize(raw)] = (index, label, raw, root)
    for index, ((hw, root), label) in enumerate(files):
        for raw, acc in hw.accelerators.items():
            key = normalize(raw)
            for field, kind in (("scale_up", "scale-up"), ("scale_out", "scale-out")):
                link = getattr(acc, field)
                if link is None:
                    continue
                problem = None
                if normalize(link) not in interconnects:
                    problem = f"no interconnect named {link!r} (bundled or in this file)"
                elif interconnects[normalize(link)].kind != kind:
                    link_index, defined_in, raw_link, link_root = link_origin[normalize(link)]
                    if link_index > index:      # a later file redefined a link this GPU relies on
                        raise MoecalcError(
                            f"redefines {raw_link!r} as {interconnects[normalize(link)].kind}, but "
                            f"{key} in {label} uses it as its {kind} link", file=defined_in,
                            field=f"interconnects.{raw_link}.kind",
                            line=node_line(link_root, ("interconnects", raw_link, "kind")))
                    problem = f"{link!r} is a {interconnects[normalize(link)].kind} interconnect, not {kind}"
                if problem:
                    raise MoecalcError(problem, file=label, field=f"accelerators.{raw}.{field}",
                                       line=node_line(root, ("accelerators", raw, field)))
            accelerators[key] = acc
            origin[key] = label
            for alias in [key, *acc.aliases]:
                names[normalize(alias)] = key
    hosts, host_names = {}, {}
    for (hw, root), label in files:
        for raw, host in hw.hosts.items():
            if normalize(host.pcie) not in interconnects:
                raise MoecalcError(f"no interconnect named {host.pcie!r} (bundled or in this file)", file=label,
                                   field=f"hosts.{raw}.pcie", line=node_line(root, ("hosts", raw, "pcie")))
            key = normalize(raw)
            hosts[key] = host
            for alias in [key, *host.aliases]:
                host_names[normalize(alias)] = key
    return Catalog(accelerators, interconnects, names, origin, hosts, host_names)


def compute_dtype_for(acc: Accelerator, weights_dtype: str, override: str = "auto") -> str:
    """The tensor-core dtype whose dense peak bounds the GEMMs for this weight dtype: the first
    of ``COMPUTE_FOR_WEIGHTS[weights_dtype]`` the GPU has (W4A16 kernels dequantize to bf16),
    or ``override`` (``--assume compute_dtype``), which the GPU must have."""
    if override != "auto":
        if override not in COMPUTE_DTYPES:
            raise MoecalcError(f"must be auto or one of {', '.join(COMPUTE_DTYPES)}, got {override!r}",
                               field="--assume compute_dtype")
        if acc.peak_flops(override) is None:
            raise MoecalcError(f"{acc.name} has no {override} peak in its profile", field="--assume compute_dtype")
        return override
    for d in COMPUTE_FOR_WEIGHTS.get(weights_dtype, ("bf16", "fp16")):
        if acc.peak_flops(d) is not None:
            return d
    return "bf16" if acc.peak_flops("bf16") is not None else "fp16"


def hardware_record(acc: Accelerator, catalog: Catalog, weights_dtype: str | tuple[str, str], a: Assumptions,
                    scale_out: str | None = None, price_per_hour: float | None = None) -> tuple[Hardware, dict]:
    """(the engine's Hardware for this GPU, the weight dtype's compute peak, the assumptions' link
    efficiencies, and a price override; the ``hardware`` section describing it). Layout-free,
    so a sweep builds it once per GPU type and dtype.

    ``weights_dtype``: the dtype of the GEMMs' bulk (the routed experts of an MoE), or (that,
    the dtype of the other matrix multiplies). The calibrated profile prices those others at
    their own dtype's peak, attention's score and value products at ``attention_dtype``'s, and
    scales every efficiency on an AMD GPU by ``rocm_efficiency``; the bound prices all at the
    bulk's peak.
    """
    bulk, dense = (weights_dtype, weights_dtype) if isinstance(weights_dtype, str) else weights_dtype
    compute = compute_dtype_for(acc, bulk, a.compute_dtype)
    calibrated = a.profile == "calibrated"
    dense_compute = compute_dtype_for(acc, dense, a.compute_dtype) if calibrated else compute
    attention_compute = compute_dtype_for(acc, a.attention_dtype) if calibrated else compute
    up = catalog.link(acc.scale_up, "scale_up")
    out_name = scale_out or acc.scale_out
    out = catalog.link(out_name, kind="scale-out") if out_name else None
    price = price_per_hour if price_per_hour is not None else acc.price_usd_per_hour
    nic = out or up                         # a GPU without a NIC: its scale-up fabric stands in
    stack = a.rocm_efficiency if acc.vendor.upper() == "AMD" else 1.0
    record = Hardware(memory_capacity=acc.memory_bytes, hbm_bandwidth=acc.hbm_bytes_per_s,
                      peak_flops=acc.peak_flops(compute),
                      scale_up=Link(up.bytes_per_s, up.latency_s, a.scaleup_efficiency),
                      scale_out=Link(nic.bytes_per_s, nic.latency_s, a.scaleout_efficiency),
                      price_per_hour=np.nan if price is None else price,
                      dense_peak_flops=acc.peak_flops(dense_compute), attention_peak_flops=acc.peak_flops(attention_compute),
                      stack_efficiency=stack)
    described = {
        "name": acc.name, "memory_bytes": acc.memory_bytes, "memory_basis": acc.memory_basis,
        "hbm_bytes_per_s": acc.hbm_bytes_per_s, "compute_dtype": compute, "peak_flops": record.peak_flops,
        "dense_compute_dtype": dense_compute, "dense_peak_flops": record.dense_peak_flops,
        "attention_compute_dtype": attention_compute, "attention_peak_flops": record.attention_peak_flops,
        "stack_efficiency": stack,
        "scale_up": {"name": acc.scale_up, "bytes_per_s": up.bytes_per_s, "latency_s": up.latency_s,
                     "domain": acc.scale_up_domain},
        "scale_out": None if out is None else {"name": out_name, "bytes_per_s": out.bytes_per_s,
                                               "latency_s": out.latency_s},
        **price_basis(acc, price_per_hour),
    }
    return record, described
