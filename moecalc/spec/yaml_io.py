"""Safe YAML reading: size cap, alias-bomb guard, YAML 1.2 floats, and node lines for errors."""

from __future__ import annotations

import math
import re

import yaml

from moecalc.errors import MoecalcError

MAX_NODES = 100_000      # nodes after alias expansion; real specs have a few hundred


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's parser where PyYAML has it, about 20x faster) that also reads
    ``671e9`` and ``1e-6`` as floats (YAML 1.2 does; 1.1 does not)."""


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def _expanded_size(node, limit: int) -> int:
    """Count nodes as a consumer would see them with aliases expanded; stop past ``limit``."""
    memo: dict[int, int] = {}

    def size(n) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        memo[key] = limit + 1          # a cycle counts as unbounded
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in n.value)
        else:
            total = 1
        memo[key] = min(total, limit + 1)
        return memo[key]

    return size(node)


def _yaml_error(exc: Exception, file: str) -> MoecalcError:
    """One line from any PyYAML failure: the problem and, when known, its line."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return MoecalcError(f"invalid YAML: {what}".replace("\n", " "), file=file,
                            line=mark.line + 1 if mark else None)
    return MoecalcError(f"invalid YAML: {exc}".replace("\n", " "), file=file)


def parse_yaml(text: str, file: str):
    """Return (data, root node). Raises MoecalcError with the file and line on any problem."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise MoecalcError("file is empty", file=file)
            if _expanded_size(root, MAX_NODES) > MAX_NODES:
                raise MoecalcError(f"YAML expands to more than {MAX_NODES:,} nodes (alias bomb?)", file=file)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except RecursionError:
        raise MoecalcError("invalid YAML: nested too deeply", file=file) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        # PyYAML raises plain ValueError for some tagged scalars (!!int xyz, a bad date)
        raise _yaml_error(exc, file) from None
    return data, root


def node_line(root, loc: tuple) -> int | None:
    """1-based line of the YAML node at a pydantic error location (deepest one found)."""
    node, line = root, root.start_mark.line + 1 if root is not None else None
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if getattr(k, "value", None) == part:
                    nxt, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def dump_yaml(data: dict) -> str:
    """Block-style YAML with keys in the given order and short lists inline."""

    class _Dumper(yaml.SafeDumper):
        pass

    _Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))

    def _list(dumper, value):
        flow = all(not isinstance(v, (dict, list)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    def _float(dumper, value):
        if value >= 1e9 and math.isfinite(value):   # 20.91e9 rather than 20910000000.0
            return dumper.represent_scalar("tag:yaml.org,2002:float", f"{value / 1e9:.12g}e9")
        return yaml.SafeDumper.represent_float(dumper, value)

    _Dumper.add_representer(list, _list)
    _Dumper.add_representer(float, _float)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
