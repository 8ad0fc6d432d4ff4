"""Turning ``moecalc sweep`` options and ``--sweep plan.yaml`` into a sweep request, and writing
feasible rows atomically. Parsing only: the search itself is ``moecalc.sweep``.
"""

from __future__ import annotations

import contextlib
import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, ValidationError

from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
from moecalc.errors import MoecalcError
from moecalc.files import atomic_writer
from moecalc.hardware import Catalog
from moecalc.spec.load import read_text, validation_error
from moecalc.spec.yaml_io import node_line, parse_yaml
from moecalc.sweep import OBJECTIVES, ROW_COLUMNS, Constraints, Space
from moecalc.parsing import parse_axis, parse_count, parse_positive, parse_price

Axis = Optional[Union[list[Union[int, str]], int, str]]
Number = Optional[Union[int, float, str]]


class SweepPlan(BaseModel):
    """A sweep YAML file: the same names as the command-line options (with _ for -)."""
    model_config = ConfigDict(extra="forbid")
    gpu: Axis = None
    gpus: Axis = None
    gpus_per_node: Axis = None
    tp: Axis = None
    ep: Axis = None
    dp: Axis = None
    pp: Axis = None
    batch: Axis = None
    context: Axis = None
    weights_dtype: Axis = None
    kv_dtype: Axis = None
    objective: Optional[str] = None
    max_tpot_ms: Number = None
    max_ttft_ms: Number = None
    min_tokens_per_s: Number = None
    budget_usd_per_hour: Number = None
    top: Optional[Union[int, str]] = None
    redundant_experts: Optional[Union[int, str]] = None
    max_nodes_per_token: Optional[Union[int, str]] = None
    scale_out: Optional[str] = None
    price_per_hour: Number = None
    routing: Optional[str] = None
    capacity_factor: Number = None
    overflow: Optional[str] = None
    seed: Optional[Union[int, str]] = None
    groups: Optional[str] = None


@dataclass(frozen=True)
class Request:
    space: Space
    constraints: Constraints
    objective: str
    top: int


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _names(text: str, field: str, known, what: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise MoecalcError("is empty", field=field)
    for n in names:
        if n not in known:
            raise MoecalcError(f"unknown {what} {n!r}; known: {', '.join(known)}", field=field)
    return names


def load_plan(path: str) -> dict:
    text = read_text(Path(path), path)
    data, root = parse_yaml(text, path)
    if not isinstance(data, dict):
        raise MoecalcError(f"top level must be a mapping of sweep options, not {type(data).__name__}", file=path)
    try:
        plan = SweepPlan.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, root) from None
    return {k: (_text(v), node_line(root, (k,))) for k, v in plan.model_dump().items() if v is not None}


def build_request(options: dict, plan_path: str | None, catalog: Catalog) -> Request:
    """Command-line options override the plan file's; errors name the option or file:line."""
    given = {k: (v, None) for k, v in options.items() if v is not None}
    plan = load_plan(plan_path) if plan_path else {}
    merged = {**plan, **given}

    def get(name, default=None):
        """The option's text; ``default`` only when it was not given at all ('' is a value)."""
        value = merged.get(name, (None, None))[0]
        return default if value is None else value

    def where(name):
        text, line = merged.get(name, (None, None))
        if name in given or not plan_path:
            return {"field": "--" + name.replace("_", "-")}
        return {"field": name, "file": plan_path, "line": line}

    def at(name, fn):
        """Run one option's parser; its errors gain the plan file and line when it came from there."""
        try:
            return fn(where(name)["field"])
        except MoecalcError as exc:
            loc = where(name)
            raise exc.with_context(file=loc.get("file"), line=loc.get("line")) from None

    def axis(name, default, minimum=1):
        text = get(name)
        return at(name, lambda field: parse_axis(text if text is not None else default, field, minimum))

    def located(fn):
        return at(fn.__name__, lambda field: fn())

    gpu_text = get("gpu", "all")
    if gpu_text.strip().lower() == "all":
        gpu = tuple(catalog.accelerators)
    else:
        gpu = tuple(dict.fromkeys(p.strip() for p in gpu_text.split(",") if p.strip()))
        if not gpu:
            raise MoecalcError("is empty", **where("gpu"))
        try:
            gpu = tuple(dict.fromkeys(catalog.gpu(g)[0] for g in gpu))
        except MoecalcError as exc:
            loc = where("gpu")
            exc.field = loc["field"]
            raise exc.with_context(file=loc.get("file"), line=loc.get("line")) from None

    def auto(name):
        text = get(name)
        return None if text is None or text.strip().lower() == "auto" else axis(name, text)

    wd, kd = get("weights_dtype"), get("kv_dtype")

    def weights_dtype():
        return None if wd is None else _names(wd, where("weights_dtype")["field"], list(WEIGHT_DTYPES), "dtype")

    def kv_dtype():
        return None if kd is None else _names(kd, where("kv_dtype")["field"], list(KV_DTYPES), "dtype")

    def objective():
        value = get("objective", "cost").strip()
        if value not in OBJECTIVES:
            raise MoecalcError(f"must be one of {', '.join(OBJECTIVES)}, got {value!r}", field=where("objective")["field"])
        return value

    def top():
        return parse_count(get("top", "10"), where("top")["field"])

    def redundant_experts():
        return parse_count(get("redundant_experts", "0"), where("redundant_experts")["field"], minimum=0)

    def max_nodes_per_token():
        text = get("max_nodes_per_token")
        return None if text is None else parse_count(text, where("max_nodes_per_token")["field"])

    def price_per_hour():
        text = get("price_per_hour")
        return None if text is None else parse_price(text, where("price_per_hour")["field"])

    def scale_out():
        text = get("scale_out")
        if text is not None:
            catalog.link(text, where("scale_out")["field"], kind="scale-out")
        return text

    def positive(name, scale=1.0):
        value = None if get(name) is None else at(name, lambda field: parse_positive(get(name), field))
        return None if value is None else value * scale

    constraints = Constraints(max_tpot_seconds=positive("max_tpot_ms", 1e-3),
                              max_ttft_seconds=positive("max_ttft_ms", 1e-3),
                              min_tokens_per_s=positive("min_tokens_per_s"),
                              budget_usd_per_hour=positive("budget_usd_per_hour"))

    def routing():
        from moecalc.routing_options import from_options

        names = {where(n)["field"]: n for n in ("routing", "capacity_factor", "overflow", "seed", "groups")}
        try:
            return from_options(get("routing"), get("capacity_factor"), get("overflow"), get("seed"),
                                lambda name: where(name)["field"], groups=get("groups"))
        except MoecalcError as exc:        # an option from the plan file: add its file and line
            loc = where(names.get(exc.field, "routing"))
            raise exc.with_context(file=loc.get("file"), line=loc.get("line")) from None

    space = Space(
        gpu=gpu, gpus=axis("gpus", "1..64"), tp=axis("tp", "1,2,4,8"), pp=axis("pp", "1"),
        dp=auto("dp"), ep=auto("ep"),
        gpus_per_node=None if get("gpus_per_node") is None else axis("gpus_per_node", None),
        batch=axis("batch", "1..256"), context=axis("context", "4096"),
        weights_dtype=located(weights_dtype), kv_dtype=located(kv_dtype),
        redundant_experts=located(redundant_experts), max_nodes_per_token=located(max_nodes_per_token),
        scale_out=located(scale_out), price_per_hour=located(price_per_hour), routing=routing())
    return Request(space, constraints, located(objective), located(top))


@contextlib.contextmanager
def write_rows_atomically(path: str | None, force: bool):
    """Yield an ``on_rows`` callback that streams feasible rows to ``path`` (.csv or .json) via a
    temporary file renamed into place at the end; nothing is left behind on error."""
    if path is None:
        yield None
        return
    target = Path(path)
    if target.suffix not in (".csv", ".json"):
        raise MoecalcError("must end in .csv or .json", field="--output")
    if target.exists() and not force:
        raise MoecalcError("exists; pass --force to overwrite it", field="--output", file=path)
    with atomic_writer(path) as f:
        state = {"first": True}
        if target.suffix == ".json":
            f.write("[")
        else:                           # the header even when nothing is feasible
            state["writer"] = csv.writer(f, lineterminator="\n")
            state["writer"].writerow(ROW_COLUMNS)

        def on_rows(rows: dict) -> None:
            keys = list(rows)
            cols = [rows[k].tolist() for k in keys]
            if target.suffix == ".csv":
                state["writer"].writerows(zip(*cols))
            else:
                for row in zip(*cols):
                    f.write(("\n" if state["first"] else ",\n") + json.dumps(dict(zip(keys, row))))
                    state["first"] = False

        yield on_rows
        if target.suffix == ".json":
            f.write("\n]\n")
