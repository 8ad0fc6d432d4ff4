"""Accelerator and interconnect profiles: the YAML schema, validated like model specs.

Files hold human units as vendors print them (GB, TB/s, GB/s per direction, dense TFLOPS, us);
the properties here (``memory_bytes``, ``hbm_bytes_per_s``, ``peak_flops``, ``bytes_per_s``,
``latency_s``) are the one place they become SI. Sparse
(2:4 structured) FLOPS are never stored: ``dense_tflops`` is the dense peak.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from moecalc.spec.types import NonNegFloat, Pos, PosFloat, SpecProblem, Strict

COMPUTE_DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def calendar_day(text: str) -> dt.date | None:
    """The date a YYYY-MM-DD text names, or None when it is not one (2025-02-30 is not)."""
    try:
        return dt.date.fromisoformat(text) if _DAY.match(text) else None
    except ValueError:
        return None
PRICE_KINDS = ("on-demand", "reservation", "spot", "range-low", "whole-instance", "other")
"""What a catalog price is: an on-demand per-GPU rate; a reservation (capacity block, commitment);
a spot rate; the low end of a quoted range; the price of a whole one-GPU instance or VM (its CPUs
and memory included); anything else (``price_source`` says what)."""


class Interconnect(Strict):
    kind: Literal["scale-up", "scale-out"] = Field(
        description="scale-up: GPU fabric inside a node or rack (NVLink, xGMI, ICI); scale-out: NIC network")
    bandwidth_gbps: PosFloat = Field(description="GB/s (1e9 bytes/s) per GPU, ONE direction")
    latency_us: NonNegFloat = Field(
        description="per-message latency of one collective step, microseconds")
    description: str = ""
    source: str = ""

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth_gbps * 1e9

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class DenseTflops(Strict):
    """Dense peak TFLOPS (TOPS for int8) of the tensor/matrix engines, per dtype; null = none."""
    fp32: Optional[PosFloat] = None
    tf32: Optional[PosFloat] = None
    bf16: Optional[PosFloat] = None
    fp16: Optional[PosFloat] = None
    fp8: Optional[PosFloat] = None
    fp4: Optional[PosFloat] = None
    int8: Optional[PosFloat] = None


class Accelerator(Strict):
    name: str = Field(min_length=1, description="display name, e.g. 'H100 SXM 80GB'")
    aliases: list[str] = Field(default_factory=list, description="other names people type")
    vendor: str = ""
    memory_gb: PosFloat = Field(description="memory capacity as the vendor labels it, GB = 1e9 bytes")
    memory_gib_reported: Optional[PosFloat] = Field(
        None, description="capacity a device query (nvidia-smi) reported, GiB = 2^30 bytes; preferred when given")
    hbm_tbps: PosFloat = Field(description="peak memory bandwidth, TB/s = 1e12 bytes/s")
    dense_tflops: DenseTflops
    scale_up: str = Field(description="name of the scale-up interconnect profile")
    scale_up_domain: Pos = Field(description="GPUs that share the scale-up fabric (8 for HGX, 72 for NVL72)")
    scale_out: Optional[str] = Field(None, description="name of the scale-out (NIC) interconnect; null = none")
    tdp_w: Optional[PosFloat] = None
    price_usd_per_hour: Optional[PosFloat] = Field(None, description="USD per GPU-hour (representative)")
    price_source: Optional[str] = Field(None, description="provider and date of the price")
    price_date: Optional[str] = Field(None, description="YYYY-MM the price was observed or published; null: the "
                                                        "source is undated")
    price_kind: Optional[Literal[PRICE_KINDS]] = Field(None, description="what the price is: "
                                                                         + ", ".join(PRICE_KINDS))
    price_valid_until: Optional[str] = Field(None, description="YYYY-MM-DD a rate published with an end date "
                                                               "stops holding (the price is stale from then)")
    price_source_keys: list[str] = Field(default_factory=list, description="keys of the reference sources: table "
                                                                           "the price comes from")
    source: str = ""

    @field_validator("price_valid_until", mode="before")
    @classmethod
    def _day_as_text(cls, v):
        return v.isoformat() if isinstance(v, dt.date) and not isinstance(v, dt.datetime) else v

    @model_validator(mode="after")
    def _check(self):
        if self.dense_tflops.bf16 is None and self.dense_tflops.fp16 is None:
            raise SpecProblem("dense_tflops", "needs at least a bf16 or fp16 peak")
        if self.price_usd_per_hour is not None and not self.price_source:
            raise SpecProblem("price_source", "a price needs its provider and date")
        if self.price_usd_per_hour is None:
            for name in ("price_date", "price_kind", "price_valid_until", "price_source_keys"):
                if getattr(self, name):
                    raise SpecProblem(name, "describes a price, but price_usd_per_hour is not given")
        if self.price_date is not None and not _MONTH.match(self.price_date):
            raise SpecProblem("price_date", f"must be YYYY-MM (e.g. 2026-06), got {self.price_date!r}")
        if self.price_valid_until is not None:
            if calendar_day(self.price_valid_until) is None:
                raise SpecProblem("price_valid_until",
                                  f"must be a date YYYY-MM-DD (e.g. 2025-01-01), got {self.price_valid_until!r}")
        if self.memory_gib_reported is not None and not (
                0.8 * self.memory_gb * 1e9 <= self.memory_gib_reported * 2**30 <= 1.2 * self.memory_gb * 1e9):
            raise SpecProblem("memory_gib_reported",
                              f"{self.memory_gib_reported} GiB is not within 20% of the {self.memory_gb} GB label")
        return self

    @property
    def hbm_bytes_per_s(self) -> float:
        return self.hbm_tbps * 1e12

    def peak_flops(self, dtype: str) -> float | None:
        """Dense peak FLOP/s (OP/s for int8) of the tensor cores in ``dtype``; None: none."""
        tflops = getattr(self.dense_tflops, dtype)
        return None if tflops is None else tflops * 1e12

    @property
    def memory_basis(self) -> str:
        return "reported GiB" if self.memory_gib_reported is not None else "vendor GB label"

    @property
    def memory_bytes(self) -> float:
        """Capacity used for fitting: the reported GiB when known, else the GB label (lower bound)."""
        if self.memory_gib_reported is not None:
            return self.memory_gib_reported * 2**30
        return self.memory_gb * 1e9


class CpuTflops(Strict):
    """Peak TFLOPS (TOPS for int8) of the host's cores, all sockets: fp32 (vector units), bf16
    and int8 (AMX on Sapphire Rapids and later; AVX-512 VNNI/BF16 elsewhere)."""
    fp32: PosFloat = Field(description="every host computes in fp32; bf16 and int8 fall back to it")
    bf16: Optional[PosFloat] = None
    int8: Optional[PosFloat] = None


class Host(Strict):
    """A machine's CPUs and system memory, where offloaded weights live (``--host``)."""
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    memory_gb: PosFloat = Field(description="system memory, GB = 1e9 bytes")
    memory_bandwidth_gbps: PosFloat = Field(description="peak memory bandwidth over all sockets, GB/s: channels x "
                                                        "MT/s x 8 bytes")
    sockets: Pos = 1
    cores: Pos
    cpu_tflops: CpuTflops
    pcie: str = Field(description="the link to the GPUs: an interconnect name (pcie4, pcie5)")
    source: str = ""

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_gbps * 1e9

    def peak_flops(self, dtype: str) -> float:
        """FLOP/s of the cores for ``dtype`` (bf16/int8 fall back to fp32)."""
        t = self.cpu_tflops
        value = {"bf16": t.bf16 or t.fp32, "int8": t.int8 or t.bf16 or t.fp32}.get(dtype, t.fp32)
        return value * 1e12


class HardwareFile(Strict):
    accelerators: dict[str, Accelerator] = Field(default_factory=dict)
    interconnects: dict[str, Interconnect] = Field(default_factory=dict)
    hosts: dict[str, Host] = Field(default_factory=dict)
