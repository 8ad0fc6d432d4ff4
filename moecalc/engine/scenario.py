"""One scenario: a model, a workload, its precision and runtime, and optionally a deployment
(layout, hardware, router), every numeric field a scalar or a broadcast array. This is the one
path every number takes: ``estimate`` builds a scenario of scalars (a grid of one), ``sweep``
one of arrays, ``compare`` and ``route`` go through ``estimate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from moecalc.engine.evaluate import evaluate
from moecalc.engine.model import ModelNumbers
from moecalc.engine.records import Hardware, Layout, Precision, Runtime, Workload, f64
from moecalc.engine.results import ModelResult, PerGpuMemory, Served
from moecalc.engine.routing import Router, RoutingCache, UniformRouter
from moecalc.engine.serve import per_gpu_memory, serve


@dataclass(frozen=True)
class Scenario:
    model: ModelNumbers
    workload: Workload
    precision: Precision
    runtime: Runtime
    layout: Layout | None = None
    hardware: Hardware | None = None
    router: Router | None = None        # None: the model's uniform router (its group limit kept)

    def evaluate(self) -> ModelResult:
        return evaluate(self.model, self.workload, self.precision, self.runtime)

    @property
    def routed_by(self) -> Router:
        m = self.model
        return self.router or UniformRouter(m.num_experts, m.top_k, m.expert_groups, m.groups_per_token)

    def memory(self, evaluated: ModelResult | None = None, limits: bool = False) -> PerGpuMemory:
        """Per-GPU memory only (what choosing a layout needs)."""
        return per_gpu_memory(self.model, evaluated or self.evaluate(), self.layout, self.hardware, self.runtime,
                              limits)

    def serve_requests(self, requests, evaluated: ModelResult | None = None, cache: RoutingCache | None = None,
                       limits: bool = False):
        """A request workload (``engine.requests.Requests``) on this layout."""
        from moecalc.engine.requests import serve_requests
        from moecalc.engine.serve import forward_model

        ev = evaluated or self.evaluate()
        cache = cache or RoutingCache()
        fw = forward_model(self.model, ev, self.layout, self.hardware, self.runtime, self.routed_by, cache, limits)
        gpus = f64(self.layout.tp) * f64(self.layout.dp) * f64(self.layout.pp)
        return serve_requests(fw, requests, self.routed_by, cache, self.hardware.price_per_hour * gpus / 3600.0)

    def serve(self, evaluated: ModelResult | None = None, cache: RoutingCache | None = None,
              limits: bool = True, memory: PerGpuMemory | None = None) -> Served:
        """``engine.serve``; ``memory``: this scenario's ``memory(evaluated, limits)`` when the
        caller has already computed it."""
        return serve(self.model, evaluated or self.evaluate(), self.layout, self.hardware, self.runtime,
                     self.routed_by, cache, limits, memory)
