"""Routing models as the user names them (``--routing uniform|zipf:S|dirichlet:ALPHA|file:PATH``),
turned into the per-expert inclusion probabilities the engine reads (``engine.routing``).

- uniform: every expert equally likely (the load-balanced router MoE papers aim for).
- zipf:S: the j-th most popular expert is preferred in proportion to j^-S (S >= 0; 0 is
  uniform). Which expert ids are popular is arbitrary, so the ranking is laid over the ids in
  a seeded random order.
- dirichlet:ALPHA: preferences drawn from a symmetric Dirichlet(ALPHA) (seeded): a learned but
  uneven router; small ALPHA is close to collapse, large ALPHA close to uniform.
- file:PATH: measured per-expert token counts in expert-id order (a serving engine's expert-load
  statistics; ``moecalc.load_profile`` reads them); a file of per-layer counts is pooled
  (the layers' mean law), ``file:PATH#N`` takes layer N alone.

Preferences become inclusion probabilities proportional to them, none above 1 (a token takes
an expert at most once): ``engine.routing.law.inclusion_from_weights``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace

import numpy as np

from moecalc.engine.routing import SkewedRouter, UniformRouter
from moecalc.engine.routing.law import inclusion_from_weights
from moecalc.errors import MoecalcError

KINDS = ("uniform", "zipf", "dirichlet", "file")
OVERFLOW = ("drop", "reroute")
ZIPF_MAX = 100.0            # j^-100 is already a full collapse; beyond it weights underflow
ALPHA_RANGE = (1e-3, 1e6)
TINY = 1e-300               # floor on preferences so that underflowed weights stay ordered


@dataclass(frozen=True)
class Routing:
    """How tokens are routed; ``uniform`` with no capacity limit is every earlier result."""
    kind: str = "uniform"
    value: float | None = None                 # zipf exponent S or Dirichlet concentration ALPHA
    path: str | None = None                    # file: the profile's path, for messages
    counts: tuple[float, ...] | None = None    # file: per-expert counts (pooled over the file's layers)
    layers: int = 1                            # file: MoE layers the file holds
    layer: int | None = None                   # file#N: the one layer taken
    layer_hottest: tuple[float, ...] = ()      # file with layers: each layer's hottest expert / the mean
    seed: int = 0
    capacity_factor: float | None = None       # tokens per expert per step at most C B k / E
    overflow: str = "drop"                     # what happens to tokens over capacity
    groups: tuple[int, int] | None = None      # group limit (G, M) overriding the model's; (0, 0): none

    @property
    def is_uniform(self) -> bool:
        return self.kind == "uniform" and self.capacity_factor is None

    def describe(self) -> str:
        text = (f"{self.kind}:{self.value:g}" if self.value is not None else
                f"file:{self.path}" + (f"#{self.layer}" if self.layer is not None else
                                       f" ({self.layers} layers pooled)" if self.layers > 1 else "")
                if self.kind == "file" else self.kind)
        if self.capacity_factor is not None:
            text += f", capacity factor {self.capacity_factor:g} ({self.overflow})"
        if self.groups is not None:
            text += ", no group limit" if self.groups == (0, 0) else f", groups {self.groups[0]}:{self.groups[1]}"
        return text

    def as_dict(self) -> dict:
        groups = None if self.groups is None else ("none" if self.groups == (0, 0) else f"{self.groups[0]}:{self.groups[1]}")
        out = {"model": self.kind, "parameter": self.value, "file": self.path, "seed": self.seed,
               "capacity_factor": self.capacity_factor, "overflow": self.overflow, "groups": groups,
               "describe": self.describe()}
        if self.kind == "file":
            spread = sorted(self.layer_hottest)
            out["profile_layers"] = {
                "layers": self.layers, "layer": self.layer,
                "pooled_hottest_x_mean": max(self.counts) / (sum(self.counts) / len(self.counts)),
                "per_layer_hottest_x_mean": {"median": spread[len(spread) // 2], "max": spread[-1]} if spread else None}
        return out

    def warnings(self) -> list[str]:
        """Pooling layers flattens each layer's hot experts: say by how much, when it does."""
        if self.kind != "file" or self.layer is not None or self.layers < 2:
            return []
        pooled = max(self.counts) / (sum(self.counts) / len(self.counts))
        median = sorted(self.layer_hottest)[len(self.layer_hottest) // 2]
        if median <= 1.1 * pooled:
            return []
        return [f"{self.path}: {self.layers} layers pooled; a layer's hottest expert is {median:.2f}x the mean "
                f"(median over layers, max {max(self.layer_hottest):.2f}x) against {pooled:.2f}x pooled, so the "
                f"pooled law understates each layer's straggler; file:{self.path}#N takes layer N alone"]


def option(name: str) -> str:
    """The command-line option of a Routing field: ``capacity_factor`` -> ``--capacity-factor``."""
    return "--" + name.replace("_", "-")


def parse_routing(text: str | None, seed: int = 0, capacity_factor: float | None = None,
                  overflow: str = "drop", field=option) -> Routing:
    """A Routing from the option text ``uniform``, ``zipf:S``, ``dirichlet:ALPHA``, ``file:PATH``
    and the capacity policy; errors name ``field(name)`` (the option, or a plan file's key)."""
    if overflow not in OVERFLOW:
        raise MoecalcError(f"must be one of {', '.join(OVERFLOW)}, got {overflow!r}", field=field("overflow"))
    if capacity_factor is not None:
        if not (math.isfinite(capacity_factor) and capacity_factor > 0):
            raise MoecalcError(f"must be a positive number, got {capacity_factor!r}", field=field("capacity_factor"))
        if overflow == "reroute" and capacity_factor < 1:
            raise MoecalcError(f"rerouting needs room for every token: a capacity factor of at least 1, got "
                               f"{capacity_factor:g}", field=field("capacity_factor"))
    if seed < 0:
        raise MoecalcError(f"must be a whole number >= 0, got {seed}", field=field("seed"))
    field = field("routing")
    raw = (text or "uniform").strip()
    kind, sep, arg = raw.partition(":")
    kind = kind.strip().lower()
    common = dict(seed=seed, capacity_factor=capacity_factor, overflow=overflow)
    if kind not in KINDS:
        raise MoecalcError(f"expected uniform, zipf:S, dirichlet:ALPHA or file:PATH, got {raw!r}", field=field)
    if kind == "uniform":
        if sep:
            raise MoecalcError(f"uniform takes no parameter, got {raw!r}", field=field)
        return Routing(**common)
    if kind == "file":
        if not arg.strip():
            raise MoecalcError("file: needs a path (file:loads.csv)", field=field)
        path, layer = arg.strip(), None
        picked = re.fullmatch(r"(.+)#([0-9]{1,6})", path)
        if picked and not os.path.exists(path):          # file:PATH#N, unless a file is named so
            path, layer = picked.group(1).strip(), int(picked.group(2))
        from moecalc.load_profile import read_profile

        counts, layers = read_profile(path, layer)
        hottest = tuple(max(row) / (sum(row) / len(row)) for row in layers) if len(layers) > 1 else ()
        return Routing("file", path=path, counts=tuple(counts), layers=len(layers), layer=layer,
                       layer_hottest=hottest, **common)
    if not arg.strip():
        example = "zipf:1.2" if kind == "zipf" else "dirichlet:0.5"
        raise MoecalcError(f"{kind}: needs a number ({example})", field=field)
    try:
        value = float(arg)
    except ValueError:
        raise MoecalcError(f"{kind} parameter {arg.strip()!r} is not a number", field=field) from None
    if kind == "zipf" and not (0 <= value <= ZIPF_MAX):
        raise MoecalcError(f"zipf exponent S must be in [0, {ZIPF_MAX:g}], got {arg.strip()}", field=field)
    if kind == "dirichlet" and not (ALPHA_RANGE[0] <= value <= ALPHA_RANGE[1]):
        raise MoecalcError(f"dirichlet concentration ALPHA must be in [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}], "
                           f"got {arg.strip()}", field=field)
    return Routing(kind, value=value, **common)


def preferences(r: Routing, num_experts: int, model: str) -> np.ndarray:
    """Per-expert router preference (any positive scale), in expert-id order."""
    E = int(num_experts)
    if r.kind == "uniform":
        return np.ones(E)
    rng = np.random.default_rng(r.seed)         # (numpy.random loads on first use: ~20 ms of a start)
    if r.kind == "zipf":
        logw = -r.value * np.log(np.arange(1, E + 1))
        w = np.exp(logw - logw.max())
        return np.maximum(w[rng.permutation(E)], TINY)
    if r.kind == "dirichlet":
        return np.maximum(rng.dirichlet(np.full(E, r.value)), TINY)
    counts = np.asarray(r.counts, dtype=np.float64)
    if len(counts) != E:
        raise MoecalcError(f"{len(counts)} counts, but {model} has {E} routed experts per MoE layer",
                           file=r.path, field="counts")
    return counts


def inclusion(r: Routing, num_experts: int, top_k: int, model: str) -> np.ndarray:
    """Per-expert probability that a token routes to it (sums to k), for this model."""
    w = preferences(r, num_experts, model)
    if r.kind == "file":
        positive = int((w > 0).sum())
        if positive < top_k:
            raise MoecalcError(f"only {positive} experts have load, but {model} routes each token to {top_k}",
                               file=r.path, field="counts")
        share = w / w.sum()
        hottest = int(np.argmax(share))
        if share[hottest] * top_k > 1 + 1e-9:
            raise MoecalcError(f"expert {hottest} has {share[hottest]:.1%} of all assignments, more than one per "
                               f"token at top-{top_k} (at most {1 / top_k:.1%})", file=r.path, field="counts")
        return np.minimum(share * top_k, 1.0)
    return inclusion_from_weights(w, top_k)


def engine_router(r: Routing | None, m, model: str):
    """The router ``engine.serve`` takes for model numbers ``m``: the model's uniform router
    (its group limit included) unless a skew or a capacity is asked for."""
    if r is None or r.is_uniform:
        return UniformRouter(m.num_experts, m.top_k, m.expert_groups, m.groups_per_token)
    if not m.num_experts:
        raise MoecalcError(f"{model} has no routed experts to route", field="--routing")
    return SkewedRouter(m.num_experts, m.top_k, m.expert_groups, m.groups_per_token,
                        pi=inclusion(r, m.num_experts, m.top_k, model), capacity_factor=r.capacity_factor,
                        overflow=r.overflow)


def parse_groups(text: str | None, field: str) -> tuple[int, int] | None:
    """``G:M`` (a token's experts from at most M of G expert groups) or ``none``."""
    if text is None:
        return None
    raw = str(text).strip().lower()
    if raw == "none":
        return (0, 0)
    g, sep, m = raw.partition(":")
    try:
        groups, per_token = int(g), int(m)
    except ValueError:
        raise MoecalcError(f"expected G:M (DeepSeek-V3: 8:4) or none, got {text!r}", field=field) from None
    if not sep or groups < 1 or per_token < 1 or per_token > groups:
        raise MoecalcError(f"expected G:M with 1 <= M <= G (DeepSeek-V3: 8:4) or none, got {text!r}", field=field)
    return (groups, per_token)


def apply_groups(m, r: Routing | None, model: str, field: str = "--groups"):
    """Model numbers with the routing's group limit in place of the model's (unchanged if none given)."""
    if r is None or r.groups is None:
        return m
    G, M = r.groups
    if G and not m.num_experts:
        raise MoecalcError(f"{model} has no routed experts to group", field=field)
    if G and (m.num_experts % G or M * (m.num_experts // G) < m.top_k):
        raise MoecalcError(f"{G}:{M} does not suit {model}'s {m.num_experts} experts at top-{m.top_k}: G must "
                           f"divide the experts and M groups hold at least top-k of them", field=field)
    if G == 1:
        G = M = 0
    return replace(m, expert_groups=G, groups_per_token=M)
