"""The engine's interface: typed records of plain numbers or numpy arrays that broadcast.

Inputs (what a scenario is): ``Workload``, ``Precision``, ``Runtime``, ``Layout``, ``Link``,
``Hardware``; the router lives in ``engine.routing``. Every numeric field may be a scalar or an
array, and all fields of all records broadcast together: ``estimate`` passes scalars (a grid of
one), a sweep passes a grid. Units: bytes, FLOPs, seconds, bytes/s, FLOP/s, USD.

Results are records too (``engine.results``); ``Breakdown`` is the named-parts type both use,
and ``Out`` is how a result record declares the JSON key, unit-free meaning and conversion of
each value it reports (the JSON contract and its documentation are generated from these).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from operator import attrgetter
from typing import Any, Callable, Iterator, Mapping

import numpy as np

Array = Any
"""A float, an int, a bool or a numpy array of them; every field so typed broadcasts."""


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


class Breakdown(Mapping):
    """An ordered set of named parts (component -> bytes, params, ...) whose sum is the total.

    Parts may be arrays; ``total`` sums them in order (so it is the same float whichever
    record holds it).
    """

    __slots__ = ("_parts",)

    def __init__(self, parts: Mapping[str, Array]) -> None:
        self._parts = dict(parts)

    def __getitem__(self, name: str) -> Array:
        return self._parts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __repr__(self) -> str:
        return f"Breakdown({self._parts!r})"

    @property
    def total(self) -> Array:
        return sum(self._parts.values())

    def map(self, fn: Callable[[str, Array], Array]) -> "Breakdown":
        return Breakdown({name: fn(name, value) for name, value in self._parts.items()})


# ---- inputs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """B sequences, each at (decode) or of (prefill) ``context`` tokens."""
    context: Array
    batch: Array


@dataclass(frozen=True)
class Precision:
    """Storage of the weights and the cache.

    quantized_bits: bits per matrix parameter of a quantized component (scales included);
    unquantized_bits: bits of every other parameter; kv_bytes: bytes per cached value;
    component_bits: (component, bits) pairs that override both for that component's matrices
    (a checkpoint mixing dtypes: NVFP4 experts, BF16 attention).
    """
    quantized_bits: Array
    unquantized_bits: Array
    kv_bytes: Array
    component_bits: tuple = ()


@dataclass(frozen=True)
class Runtime:
    """The serving stack's assumptions, as numbers (``moecalc.assumptions`` names and sources them).

    ``load_fluctuation`` is a boolean (or boolean array); ``comm_overlap`` the share of the
    communication hidden behind compute, in [0, 1]. The last four are the calibrated model's
    mechanisms (docs/method/calibration.md); their neutral values (0, 1, 1, 0) give the pure
    roofline: ``gemm_half_rows`` rows at which a GEMM reaches half its large-M efficiency,
    ``expert_efficiency`` grouped expert GEMMs' compute against dense ones',
    ``attention_efficiency`` decode attention's score and value FLOPs against dense GEMMs',
    ``layer_seconds``
    a fixed cost per layer and forward pass (launches and synchronization).
    """
    prefill_chunk_tokens: Array = 8192
    activation_bytes: Array = 2
    logits_bytes: Array = 4
    runtime_overhead_bytes: Array = 2 * 2**30
    comm_buffer_bytes: Array = 2**30
    mfu: Array = 0.4
    hbm_efficiency: Array = 0.85
    comm_overlap: Array = False
    load_fluctuation: Array = True
    dispatch_bytes: Array = 1.0
    combine_bytes: Array = 2.0
    gpu_memory_utilization: Array = 1.0     # share of capacity the serving stack may use
    low_latency_a2a: Array = False          # decode-only steps use DeepEP's low-latency all-to-all
    gemm_half_rows: Array = 0.0
    expert_efficiency: Array = 1.0
    attention_efficiency: Array = 1.0
    layer_seconds: Array = 0.0


@dataclass(frozen=True)
class Layout:
    """N = TP x DP x PP GPUs; EP ranks over the TP x DP GPUs of a stage; nodes of
    ``gpus_per_node``; R redundant expert slots; node-limited routing (inf: no limit)."""
    tp: Array = 1
    dp: Array = 1
    pp: Array = 1
    ep: Array = 1
    redundant_experts: Array = 0
    gpus_per_node: Array = 8
    max_nodes_per_token: Array = np.inf

    @property
    def gpus(self) -> np.ndarray:
        return f64(self.tp) * f64(self.dp) * f64(self.pp)

    @property
    def stage(self) -> np.ndarray:
        """GPUs of one pipeline stage, tp x dp: the MoE layers' expert-parallel group."""
        return f64(self.tp) * f64(self.dp)


@dataclass(frozen=True)
class Link:
    """One kind of link per GPU and direction: t(bytes) = bytes / (bandwidth x efficiency) + latency."""
    bandwidth: Array
    latency: Array
    efficiency: Array = 1.0

    def seconds(self, nbytes) -> np.ndarray:
        return f64(nbytes) / (self.bandwidth * self.efficiency) + self.latency

    @staticmethod
    def where(condition, a: "Link", b: "Link") -> "Link":
        """Field by field: ``a`` where ``condition`` holds, else ``b``."""
        return Link(*(np.where(condition, getattr(a, f.name), getattr(b, f.name)) for f in fields(Link)))


@dataclass(frozen=True)
class Hardware:
    """One GPU type, in SI units: capacity (bytes), HBM (bytes/s), dense peak (FLOP/s) of the
    routed experts' GEMMs (the bulk's dtype), the scale-up fabric and the scale-out network (the
    scale-up link when the GPU has none), and its price (NaN: unpriced).

    ``dense_peak_flops``: the peak of the other matrix multiplies (their own dtype: BF16
    attention beside NVFP4 experts); ``attention_peak_flops``: of attention's score and value
    products (BF16 unless asked); None: ``peak_flops``. ``stack_efficiency`` scales every
    achieved efficiency on this GPU (a serving stack's maturity on its vendor; 1: none).
    """
    memory_capacity: Array
    hbm_bandwidth: Array
    peak_flops: Array
    scale_up: Link
    scale_out: Link
    price_per_hour: Array = np.nan
    dense_peak_flops: Array | None = None
    attention_peak_flops: Array | None = None
    stack_efficiency: Array = 1.0

    @property
    def dense_peak(self) -> Array:
        return self.peak_flops if self.dense_peak_flops is None else self.dense_peak_flops

    @property
    def attention_peak(self) -> Array:
        return self.peak_flops if self.attention_peak_flops is None else self.attention_peak_flops


def take(record, index):
    """The record with every array field indexed by ``index`` (nested records too)."""
    def pick(value):
        if hasattr(value, "__dataclass_fields__"):
            return take(value, index)
        return np.asarray(value)[index] if np.ndim(value) else value
    return replace(record, **{f.name: pick(getattr(record, f.name)) for f in fields(record)})


# ---- how a result record reports its values -------------------------------------------------
def as_float(v) -> float:
    return float(v)


def as_int(v) -> int:
    return int(v)


def as_bool(v) -> bool:
    return bool(v)


def as_parts(v: Breakdown) -> dict:
    return {name: float(x) for name, x in v.items()}


def nan_as_none(v) -> float | None:
    return None if np.isnan(v) else float(v)


@dataclass(frozen=True)
class Out:
    """One reported value: its JSON key (dotted path), the attribute path in the record that
    holds it, what it means (documentation) and how it becomes JSON."""
    key: str
    attr: str
    doc: str
    convert: Callable = as_float

    def __post_init__(self):            # the paths split once (an estimate reports ~85 values)
        object.__setattr__(self, "_get", attrgetter(self.attr))
        object.__setattr__(self, "_sections", tuple(self.key.split(".")[:-1]))
        object.__setattr__(self, "_name", self.key.rsplit(".", 1)[-1])

    def value(self, record):
        return self.convert(self._get(record))


def report(record, into: dict, keys: tuple[Out, ...] | None = None) -> dict:
    """Write a record's reported values into the nested dict ``into`` (sections in place)."""
    for out in (record.REPORT if keys is None else keys):
        node = into
        for part in out._sections:
            node = node.setdefault(part, {})
        node[out._name] = out.value(record)
    return into
