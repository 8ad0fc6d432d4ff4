"""Turn a SPEC argument (YAML path, config.json path or folder, bundled name) into a spec."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from pydantic import ValidationError

from moecalc.errors import MoecalcError
from moecalc.spec import package_path
from moecalc.spec.model import ArchitectureSpec, ModelSpec, SpecProblem, SummarySpec
from moecalc.spec.yaml_io import node_line, parse_yaml

MAX_BYTES = 1 << 20      # 1 MiB; the largest real config.json is a few tens of KB, a load profile a few KB


def bundled_specs() -> dict[str, str]:
    """Bundled spec name -> YAML text, from the package's model_specs."""
    folder = package_path("model_specs")
    return {p.name[:-5]: p.read_text(encoding="utf-8")
            for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".yaml")}


def read_text(path: Path, label: str, what: str = "a spec") -> str:
    """A UTF-8 text file of at most MAX_BYTES; errors name the file and say what it was read as."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):     # a FIFO, a device (/dev/zero), a socket: never read
            raise MoecalcError("not a regular file", file=label)
        size = st.st_size
        if size > MAX_BYTES:
            raise MoecalcError(f"file is {size:,} bytes, over the {MAX_BYTES:,}-byte limit for {what}", file=label)
        data = path.read_bytes()
    except MoecalcError:
        raise
    except FileNotFoundError:
        raise MoecalcError("no such file", file=label) from None
    except IsADirectoryError:
        raise MoecalcError("is a folder, not a file", file=label) from None
    except OSError as exc:
        raise MoecalcError(f"cannot read: {exc.strerror or exc}", file=label) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MoecalcError("not UTF-8 text", file=label) from None
    if not text.strip():
        raise MoecalcError("file is empty", file=label)
    return text


def parse_json(text: str, label: str):
    """JSON; NaN and Infinity parse (as Python does) and are rejected by the field that holds them."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MoecalcError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=label, line=exc.lineno) from None
    except RecursionError:
        raise MoecalcError("invalid JSON: nested too deeply", file=label) from None
    except ValueError as exc:           # an integer literal past Python's 4,300-digit limit
        raise MoecalcError(f"invalid JSON: {str(exc).split(';')[0]}"[:200], file=label) from None


def _field_name(loc: tuple, form_known: bool) -> str:
    parts = [str(p) for p in loc if not (form_known and p in ("architecture", "summary"))]
    return ".".join(parts)


def validate_spec(data, label: str, root=None) -> ModelSpec:
    """Validate a parsed mapping as a spec; errors name the file, line, field and problem."""
    if not isinstance(data, dict):
        raise MoecalcError(f"top level must be a mapping of fields, not {type(data).__name__}", file=label)
    form = data.get("form", "architecture")
    cls = {"architecture": ArchitectureSpec, "summary": SummarySpec}.get(form)
    if cls is None:
        raise MoecalcError(f"must be 'architecture' or 'summary', not {form!r}", file=label, field="form",
                           line=node_line(root, ("form",)) if root is not None else None)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, label, root, drop_form=True) from None


def validation_error(exc: ValidationError, label: str, root=None, drop_form: bool = False) -> MoecalcError:
    """Every pydantic problem in one MoecalcError: the first names the file, line and field, the
    others follow as 'field: problem', separated by '; ' (a typo'd key and the required one it
    should have been show together)."""
    first = _one_problem(exc.errors(include_url=False)[0], label, root, drop_form)
    rest = [_one_problem(e, label, root, drop_form) for e in exc.errors(include_url=False)[1:8]]
    if rest:
        first.message += "; " + "; ".join(f"{r.field}: {r.message}" if r.field else r.message for r in rest)
        if exc.error_count() > 8:
            first.message += f"; and {exc.error_count() - 8} more"
    return first


def _one_problem(err: dict, label: str, root, drop_form: bool) -> MoecalcError:
    loc = tuple(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    problem = err.get("ctx", {}).get("error")
    if isinstance(problem, SpecProblem):
        loc, msg = loc + tuple(problem.field.split(".")), str(problem)
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
        msg += f" (got {repr(err['input'])[:80]})"
    line = node_line(root, loc) if root is not None else None
    return MoecalcError(msg, file=label, field=_field_name(loc, drop_form) or None, line=line)


def bundled_spec(text: str, label: str) -> ModelSpec:
    """A bundled spec, validated once and kept in moecalc's cache between runs (keyed by its text:
    package data never fails validation)."""
    import moecalc.cache as disk

    kept = disk.load("spec", text.encode())
    if isinstance(kept, (ArchitectureSpec, SummarySpec)):
        return kept
    spec = load_spec_text(text, label)
    disk.store("spec", text.encode(), spec)
    return spec


def load_spec_text(text: str, label: str) -> ModelSpec:
    data, root = parse_yaml(text, label)
    return validate_spec(data, label, root)


def resolve(arg: str) -> tuple[str, Path | None]:
    """Classify SPEC: ('yaml'|'hf'|'gguf', path) for files, ('checkpoint', config path) for a
    folder, ('hub', None) for ``org/name[@revision]`` that is no path here, ('bundled', None)
    for names."""
    from moecalc.spec.hub import is_hub_id

    path = Path(arg)
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise MoecalcError("folder has no config.json", file=arg)
        return "checkpoint", cfg
    if is_hub_id(arg):
        return "hub", None
    if path.exists() or os.sep in arg or arg.endswith((".yaml", ".yml", ".json", ".gguf")):
        return ("hf" if path.suffix == ".json" else "gguf" if path.suffix == ".gguf" else "yaml"), path
    return "bundled", None


def closest_models(name: str, names: list[str]) -> list[str]:
    """Bundled names that start with or contain what was typed (``mixtral``: both Mixtrals),
    then the nearest spellings (``deepseek-v4``), at most 6."""
    import difflib

    plain = name.replace("_", "-").replace(" ", "-")
    hits = [n for n in names if n.startswith(plain)] + [n for n in names if plain in n and not n.startswith(plain)]
    hits += difflib.get_close_matches(plain, names, n=4, cutoff=0.6)
    return list(dict.fromkeys(hits))[:6]


def load(arg: str, offline: bool = False) -> tuple[ModelSpec, str]:
    """Load SPEC; return (spec, label) where label names where it came from. A checkpoint folder
    or a hub id also reads the checkpoint's safetensors headers (``spec.checkpoint()``); a hub
    id is looked up in the Hugging Face cache first and never on the network when ``offline``."""
    kind, path = resolve(arg)
    if kind == "hub":
        return _load_hub(arg, offline)
    if kind == "bundled":
        specs = bundled_specs()
        key = arg.lower()
        if key not in specs:
            close = closest_models(key, list(specs))
            raise MoecalcError("no such file, and no bundled model of that name; " + (
                f"closest: {', '.join(close)}" if close else f"bundled: {', '.join(specs)}")
                + " (moecalc models lists them; a Hugging Face id is org/name)", file=arg)
        return bundled_spec(specs[key], f"{key} (bundled)"), f"{key} (bundled)"
    label = str(path)
    if kind == "gguf":
        from moecalc.spec.gguf_import import spec_from_gguf

        if not path.is_file():
            raise MoecalcError("no such file", file=label)
        return spec_from_gguf(path, label), label
    text = read_text(path, label)
    if kind in ("hf", "checkpoint"):
        from moecalc.spec.hf_import import spec_from_config

        data = parse_json(text, label)
        if isinstance(data, dict) and "model_type" not in data and ("name" in data or "form" in data):
            return validate_spec(data, label), label
        spec = spec_from_config(data, label)
        if kind == "checkpoint":
            from moecalc.spec.checkpoint import from_folder, quant_bits

            layers = data.get("num_hidden_layers") if isinstance(data.get("num_hidden_layers"), int) else None
            spec.attach_checkpoint(from_folder(path.parent, str(path.parent), layers, quant_bits(data)), ())
        return spec, label
    return load_spec_text(text, label), label


def _load_hub(arg: str, offline: bool) -> tuple[ModelSpec, str]:
    """A hub id: its config.json (cache first) through the family reader, and its checkpoint."""
    from moecalc.spec.hf_import import spec_from_config
    from moecalc.spec.hub import read_checkpoint, resolve as resolve_hub

    hub = resolve_hub(arg, offline)
    label = hub.label
    data = parse_json(read_text(hub.config_path, f"{label}: config.json"), f"{label}: config.json")
    spec = spec_from_config(data, f"{label}: config.json", hub.repo.split("/")[-1])
    got, notes = read_checkpoint(hub, data if isinstance(data, dict) else {}, offline)
    spec.attach_checkpoint(got, notes)
    return spec, label


