"""Expert slots on EP ranks: which rank holds which expert (and how many copies of it).

Contiguous (vLLM's default: experts in id order, no load balancer) or balanced (DeepSeek's EPLB
in spirit: redundant slots to the hottest experts, then heaviest-first packing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Placement:
    """Expert slots on EP ranks: slot s holds expert ``expert[s]`` on rank ``rank[s]``;
    expert i has ``copies[i]`` slots, each taking 1/copies of its tokens."""
    expert: np.ndarray
    rank: np.ndarray
    copies: np.ndarray
    ep: int

    def shares(self, pi) -> np.ndarray:
        """Per slot: the probability a token is sent to it, pi_i / c_i."""
        return np.asarray(pi)[self.expert] / self.copies[self.expert]

    def rank_load(self, load_per_slot) -> np.ndarray:
        """Sum of a per-slot quantity on each rank (shape ep)."""
        return np.bincount(self.rank, weights=load_per_slot, minlength=self.ep)

    @property
    def slots(self) -> np.ndarray:
        """Slots on each rank (shape ep)."""
        return np.bincount(self.rank, minlength=self.ep)

    def held(self, nodes: int | None = None) -> np.ndarray:
        """Copies of each expert on each rank (ep x E), or on each of ``nodes`` nodes of
        contiguous ranks (nodes x E)."""
        E = len(self.copies)
        rows, where = (self.ep, self.rank) if nodes is None else (nodes, self.rank * nodes // self.ep)
        # counts of (row, expert) pairs: one bincount (np.add.at is ~10x slower)
        return np.bincount(where * E + self.expert, minlength=rows * E).reshape(rows, E).astype(np.float64)


def contiguous_placement(num_experts: int, ep: int) -> Placement:
    """Experts in id order over EP ranks, the first E mod EP ranks holding one more (vLLM's
    default, no load balancer)."""
    E = int(num_experts)
    bounds = E // ep + (np.arange(ep) < E % ep)                 # np.array_split's sizes
    rank = np.repeat(np.arange(ep), bounds)
    return Placement(np.arange(E), rank, np.ones(E, dtype=np.int64), int(ep))


def balanced_placement(pi, ep: int, redundant: int) -> Placement:
    """DeepSeek's EPLB in spirit: give the R redundant slots to the hottest experts (each
    time to the expert with the largest load per copy), then pack the E + R slots, heaviest
    first, each onto the least-loaded rank that still has room for ceil((E+R)/EP) slots."""
    pi = np.asarray(pi, dtype=np.float64)
    E = len(pi)
    copies = np.ones(E, dtype=np.int64)
    for _ in range(int(redundant)):
        copies[np.argmax(pi / copies)] += 1
    expert = np.repeat(np.arange(E), copies)
    load = pi[expert] / copies[expert]
    room = -(-(E + int(redundant)) // ep)
    rank = np.empty(len(expert), dtype=np.int64)
    rank_load = np.zeros(ep)
    rank_slots = np.zeros(ep, dtype=np.int64)
    for s in np.argsort(-load, kind="stable"):
        open_ = rank_slots < room
        r = int(np.argmin(np.where(open_, rank_load, np.inf)))
        rank[s] = r
        rank_load[r] += load[s]
        rank_slots[r] += 1
    return Placement(expert, rank, copies, int(ep))


def place(pi, ep: int, redundant: int) -> Placement:
    """Balanced (EPLB) when redundant slots are given; else contiguous."""
    if redundant:
        return balanced_placement(pi, ep, redundant)
    return contiguous_placement(len(pi), ep)
