from __future__ import annotations

from moecalc.routers import Routing, option, parse_groups, parse_routing


def from_options(routing: str | None, capacity_factor: str | None, overflow: str | None, seed: str | None,
                 field=option, groups: str | None = None) -> Routing:
    """A Routing from command-line texts (numbers parsed here, checked by ``parse_routing``);
    errors name ``field(name)``."""
    from dataclasses import replace

    from moecalc.parsing import parse_count, parse_positive

    cap = None if capacity_factor is None else parse_positive(capacity_factor, field("capacity_factor"))
    s = 0 if seed is None else parse_count(seed, field("seed"), minimum=0)
    parsed = parse_routing(routing, s, cap, (overflow or "drop").strip(), field)
    return replace(parsed, groups=parse_groups(groups, field("groups")))
