"""Request-level serving: requests of ``isl`` prompt and ``osl`` output tokens, served in one
of four modes, priced per output token, per input token and per request.

Every mode is a composition of ``serve.Forward.step`` (one forward pass carrying decode and
prefill tokens). Symbols: B concurrent requests of the deployment, b = ceil(B / DP) per
replica, chunk C = ``runtime.prefill_chunk_tokens`` (vLLM's ``max_num_batched_tokens``),
decode context L_d = ISL + OSL/2 (the KV length a decode step reads, at the midpoint of the
decode: stated, not averaged over the steps), N MTP draft tokens accepted each with
probability P, tau = 1 + P + ... + P^N tokens a sequence gains per step, q = N + 1 tokens it
verifies per step.

continuous (chunked prefill, closed loop of B requests; vLLM, SGLang, TensorRT-LLM in-flight):
  a decode step of b sequences carries, on average, the prefill of the requests that replace
  the finished ones: p = b tau ISL/OSL prompt tokens per replica for the throughput, and
  (b - 1) tau ISL/OSL for the step a decoding request sees (its own prefill is its TTFT);
  the tokens of one step over C are split over ceil((b q + p) / C) forward passes.
    TPOT      = step(b q, (b - 1) tau ISL/OSL) / tau
    tokens/s  = B tau / step(b q, b tau ISL/OSL)
    TTFT      = wait + ceil(ISL / (C - (b - 1) q)) x step((b - 1) q, its chunk)
                wait = half a step when other requests are decoding (the current step ends
                first); queueing behind other prompts beyond that is not modelled
static (a batch prefilled together, then decoded together; TensorRT-LLM's session benchmark):
    TTFT = prefill(B ISL);  TPOT = step(b q) / tau
    tokens/s = B OSL / (TTFT + (OSL - 1) / tau x step(b q))
prefill (one saturated pool of a disaggregated deployment): B prompts of ISL in one batch,
  chunked by C:  input tokens/s = B ISL / prefill(B ISL)
decode (the other pool): B sequences at L_d (or a given context):  TPOT = step(b q) / tau

MTP drafts: each of the N drafts costs one layer's share of the decode step (the MTP module is
one decoder layer; its output head's matmul is not added).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moecalc.engine import layout as lay
from moecalc.engine.records import Array, Out, Workload, f64, nan_as_none
from moecalc.engine.results import Step

MODES = ("continuous", "static", "prefill", "decode")


@dataclass(frozen=True)
class Requests:
    """``isl`` prompt and ``osl`` output tokens per request, the serving ``mode``, and MTP
    speculative decoding: ``mtp_tokens`` drafts per step, each accepted with ``mtp_acceptance``."""
    isl: Array
    osl: Array
    mode: str = "continuous"
    decode_context: Array | None = None     # None: ISL + OSL / 2
    mtp_tokens: Array = 0
    mtp_acceptance: Array = 0.0

    @property
    def context(self) -> np.ndarray:
        """The KV length a decode step reads."""
        if self.decode_context is not None:
            return f64(self.decode_context)
        return f64(self.isl) + f64(self.osl) / 2

    @property
    def tokens_per_step(self) -> np.ndarray:
        """tau = sum_{i=0}^{N} P^i: tokens a sequence gains per decode step."""
        n, p = f64(self.mtp_tokens), f64(self.mtp_acceptance)
        return np.where(p == 1, n + 1, (1 - p ** (n + 1)) / np.where(p == 1, 0.5, 1 - p))


def held_context(mode: str, isl, osl, decode_context=None):
    """The context whose KV cache a request holds on average, for memory and fit: continuous and
    decode ISL + OSL/2 (requests spread over their decode), static ISL + OSL (all at the end),
    prefill ISL."""
    if decode_context is not None:
        return f64(decode_context)
    if mode == "static":
        return f64(isl) + f64(osl)
    if mode == "prefill":
        return f64(isl)
    return f64(isl) + f64(osl) / 2


@dataclass(frozen=True)
class RequestServed:
    """What a request workload gets from a deployment, and what its GPU time costs."""
    mode: str
    isl: Array
    osl: Array
    gpus: Array
    ttft: Array                     # s; NaN in decode mode (no prefill)
    tpot: Array                     # s per output token as a request sees it; NaN in prefill mode
    tokens_per_s: Array             # output tokens/s of the deployment; NaN in prefill mode
    input_tokens_per_s: Array       # prompt tokens/s of the deployment; NaN in decode mode
    tokens_per_step: Array          # tau
    step: Step                      # the steady-state step (continuous, static and decode: decode)
    prefill_share: Array            # share of GPU time spent on prefill (price-sheet split)
    usd_per_second: Array           # price x GPUs

    @property
    def tokens_per_s_per_gpu(self) -> Array:
        return self.tokens_per_s / self.gpus

    @property
    def input_tokens_per_s_per_gpu(self) -> Array:
        return self.input_tokens_per_s / self.gpus

    @property
    def tokens_per_s_per_user(self) -> Array:
        return 1.0 / self.tpot

    @property
    def requests_per_s(self) -> Array:
        return np.where(np.isnan(self.tokens_per_s), self.input_tokens_per_s / f64(self.isl),
                        self.tokens_per_s / f64(self.osl))

    @property
    def request_latency(self) -> Array:
        return self.ttft + (f64(self.osl) - 1) * self.tpot

    @property
    def usd_per_million_output_tokens(self) -> Array:
        """All GPU time (prefill included) per output token."""
        return self.usd_per_second / self.tokens_per_s * 1e6

    @property
    def usd_per_million_input_tokens(self) -> Array:
        """All GPU time per prompt token (the same time, another view)."""
        return self.usd_per_second / self.input_tokens_per_s * 1e6

    @property
    def usd_per_request(self) -> Array:
        return self.usd_per_second / self.requests_per_s

    @property
    def usd_per_million_tokens(self) -> Array:
        """All GPU time per token, input and output together (blended)."""
        total = np.nan_to_num(self.tokens_per_s) + np.nan_to_num(self.input_tokens_per_s)
        return self.usd_per_second / np.where(total > 0, total, np.nan) * 1e6

    @property
    def split_input_usd_per_million(self) -> Array:
        """Price-sheet split: prefill time charged to prompt tokens."""
        return self.usd_per_second * self.prefill_share / self.input_tokens_per_s * 1e6

    @property
    def split_output_usd_per_million(self) -> Array:
        """... decode time to output tokens."""
        return self.usd_per_second * (1 - self.prefill_share) / self.tokens_per_s * 1e6

    REPORT = (
        Out("perf.ttft_seconds", "ttft", "time to first token of a request: waiting plus its prompt's prefill "
                                         "(null in decode mode)", nan_as_none),
        Out("perf.tpot_seconds", "tpot", "time per output token a request sees, prefill stalls and MTP "
                                         "included (null in prefill mode)", nan_as_none),
        Out("perf.tokens_per_s", "tokens_per_s", "output tokens/s of the deployment", nan_as_none),
        Out("perf.tokens_per_s_per_gpu", "tokens_per_s_per_gpu", "output tokens/s per GPU (null in prefill mode)",
            nan_as_none),
        Out("perf.input_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "prompt tokens/s per GPU (null in "
                                                                              "decode mode)", nan_as_none),
        Out("perf.tokens_per_s_per_user", "tokens_per_s_per_user", "output tokens/s one request sees, 1 / TPOT",
            nan_as_none),
        Out("perf.requests_per_s", "requests_per_s", "requests completed per second", nan_as_none),
        Out("perf.request_latency_seconds", "request_latency", "TTFT + (OSL - 1) x TPOT", nan_as_none),
        Out("perf.tokens_per_step", "tokens_per_step", "tokens a sequence gains per decode step (1 without MTP)",
            nan_as_none),
        Out("cost.usd_per_million_output_tokens", "usd_per_million_output_tokens",
            "all GPU time, prefill included, per million output tokens (null: no price)", nan_as_none),
        Out("cost.usd_per_million_input_tokens", "usd_per_million_input_tokens",
            "all GPU time per million prompt tokens", nan_as_none),
        Out("cost.usd_per_request", "usd_per_request", "all GPU time per request", nan_as_none),
        Out("cost.usd_per_million_tokens", "usd_per_million_tokens",
            "all GPU time per million tokens, input and output together (blended)", nan_as_none),
        Out("cost.split.input_usd_per_million", "split_input_usd_per_million",
            "price-sheet split: prefill time per million prompt tokens", nan_as_none),
        Out("cost.split.output_usd_per_million", "split_output_usd_per_million",
            "price-sheet split: decode time per million output tokens", nan_as_none),
        Out("cost.prefill_share", "prefill_share", "share of GPU time spent on prefill", nan_as_none),
    )


def serve_requests(fw, requests: Requests, router, cache, usd_per_second) -> RequestServed:
    """The request workload on a layout (``serve.forward_model``'s ``Forward``)."""
    layout, runtime, m = fw.layout, fw.runtime, fw.m
    B = f64(fw.ev.workload.batch)
    dp = f64(layout.dp)
    gpus = f64(layout.tp) * dp * f64(layout.pp)
    b = lay.ceil_div(B, dp)
    isl, osl = f64(requests.isl), f64(requests.osl)
    q = f64(requests.mtp_tokens) + 1
    tau = requests.tokens_per_step
    Ld = requests.context
    C = f64(runtime.prefill_chunk_tokens)

    def step(decode, decode_group, prefill, prefill_group, forwards=1.0):
        """One steady-state step: the router's terms for all its tokens, then the pass(es)."""
        t = router.terms(layout, fw.nodes, Workload(context=np.maximum(prefill_group, 1), batch=decode_group + prefill_group),
                         runtime.load_fluctuation, cache)
        imbalance = np.where(decode_group > 0, t.imbalance, t.prefill_imbalance)
        s, _, _ = fw.step(decode, decode_group, Ld, prefill, prefill_group, np.maximum(isl, 1), imbalance,
                          t.touched_fraction, forwards)
        return s

    def drafts(decode, decode_group):
        """N drafts per step, each one layer's share of a one-token decode step."""
        if not np.any(f64(requests.mtp_tokens) > 0):
            return 0.0
        single = step(decode, decode_group, 0.0, 0.0).seconds
        return f64(requests.mtp_tokens) * single / m.num_layers

    nan = np.full(np.shape(B * isl * osl), np.nan)
    mode = requests.mode
    if mode == "prefill":
        p = b * isl
        s = step(0.0, 0.0, p, B * isl, np.maximum(1, np.ceil(p / C)))
        t = s.seconds
        return RequestServed(mode, isl, osl, gpus, ttft=t, tpot=nan, tokens_per_s=nan,
                             input_tokens_per_s=B * isl / t, tokens_per_step=nan, step=s, prefill_share=1.0 + 0 * t,
                             usd_per_second=usd_per_second)
    decode_step = step(b * q, B * q, 0.0, 0.0)
    t_decode = decode_step.seconds + drafts(b, B)
    if mode == "decode":
        return RequestServed(mode, isl, osl, gpus, ttft=nan, tpot=t_decode / tau, tokens_per_s=B * tau / t_decode,
                             input_tokens_per_s=nan, tokens_per_step=tau, step=decode_step, prefill_share=0.0 * t_decode,
                             usd_per_second=usd_per_second)
    if mode == "static":
        pre = step(0.0, 0.0, b * isl, B * isl).seconds
        total = pre + (osl - 1) / tau * t_decode
        return RequestServed(mode, isl, osl, gpus, ttft=pre, tpot=t_decode / tau, tokens_per_s=B * osl / total,
                             input_tokens_per_s=B * isl / total, tokens_per_step=tau, step=decode_step,
                             prefill_share=pre / total, usd_per_second=usd_per_second)
    # continuous
    per_token = tau * isl / osl

    def loaded(sequences, prompt_tokens):
        forwards = np.maximum(1, np.ceil((sequences * q + prompt_tokens) / C))
        return step(sequences * q, sequences * dp * q, prompt_tokens, prompt_tokens * dp, forwards)

    full = loaded(b, b * per_token)
    t_full = full.seconds + drafts(b, B)
    seen = loaded(b, (b - 1) * per_token).seconds + drafts(b, B)
    room = C - (b - 1) * q
    chunk = np.minimum(isl, np.maximum(room, 1))
    chunks = np.where(room > 0, np.ceil(isl / chunk), np.inf)
    others = np.maximum(b - 1, 0)
    chunk_step = step(others * q, others * dp * q, chunk, chunk).seconds
    ttft = np.where(b > 1, seen / 2, 0.0) + chunks * chunk_step
    return RequestServed(mode, isl, osl, gpus, ttft=ttft, tpot=seen / tau, tokens_per_s=B * tau / t_full,
                         input_tokens_per_s=B * tau / t_full * isl / osl, tokens_per_step=tau, step=full,
                         prefill_share=np.clip(1 - t_decode / t_full, 0, 1), usd_per_second=usd_per_second)
