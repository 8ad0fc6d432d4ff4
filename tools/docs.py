"""Regenerate (or check) every generated block of README.md and docs/**/*.md.

A block sits between a marker comment and ``<!-- end -->``:

    <!-- run: moecalc estimate deepseek-v3 --gpu h200 -->      the command's output, as a text block
    <!-- generate: json-keys -->                               a table made from the library
    <!-- bench: python benchmarks/startup.py --runs 5 -->      a benchmark's output (machine-dependent)
    <!-- plot: moecalc sweep ... --plot docs/img/x.svg -->     the picture the command draws, linked

A plot block's command draws into a temporary file; the committed image must be that file byte
for byte (plots carry no timestamp), and the block is the image's link.

``python tools/docs.py`` rewrites the blocks in place; ``--check`` rewrites nothing and exits 1
naming every stale block (CI runs it). Timings inside an output (a sweep's "in 0.60 s (963,248
per second)") are masked when checking; ``bench`` blocks are regenerated only with ``--bench``
and never checked, since their figures belong to the machine that ran them.

Commands run as ``python -m moecalc ...`` with this interpreter, from the repository root, on a
100-column terminal without colour, so the output is what a user types and sees.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- (run|generate|bench|plot): (.+?) -->\n", re.M)
END = "<!-- end -->\n"
TIMING = [re.compile(p) for p in (r"in\s+[0-9.]+\s+s\s+\([0-9,]+\s+per\s+second\)", r"[0-9.]+ (ms|us|s)  +[0-9.]+x bare")]
# MOECALC_TODAY: prices are judged dated, stale or undated as of this day (moecalc.prices), so a
# block does not change with the calendar; move it forward when the bundled prices are refreshed
ENV = {**os.environ, "COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "PYTHONHASHSEED": "0",
       "MOECALC_TODAY": "2026-12-02"}


def files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def run(command: str) -> str:
    """``$ command`` and what it prints (stdout, then stderr), as a text block."""
    args = shlex.split(command)
    if args[0] == "moecalc":
        argv = [sys.executable, "-m", "moecalc", *args[1:]]
    elif args[0] == "python":
        argv = [sys.executable, *args[1:]]
    else:
        raise SystemExit(f"docs: cannot run {command!r}: only moecalc and python commands")
    done = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 2):
        raise SystemExit(f"docs: {command!r} failed with exit code {done.returncode}:\n{done.stderr}")
    text = "\n".join(line.rstrip() for line in (done.stdout + done.stderr).splitlines())
    return f"```text\n$ {command}\n{text}\n```\n"


def generate(name: str) -> str:
    """A markdown table made from the one declaration of what it lists."""
    if name == "json-keys":
        from moecalc.report import keys

        rows = ["| key | meaning |", "|---|---|"] + [f"| `{k}` | {doc} |" for k, doc in keys()]
        return "\n".join(rows) + "\n"
    if name == "train-keys":
        from moecalc.hardware import load_catalog
        from moecalc.spec.load import load
        from moecalc.train import TRAIN_KEYS, TrainRequest, train

        def walk(d, prefix=""):
            for k, v in d.items():
                yield from walk(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]

        spec, label = load("deepseek-v3")
        written = list(walk(train(spec, TrainRequest(tokens=1e12, gpu="h800", gpus=2048, pp=16), load_catalog(),
                                  label)))
        missing = sorted(set(written) ^ set(TRAIN_KEYS))
        if missing:
            raise SystemExit(f"docs: train keys written and declared differ: {missing}")
        rows = ["| key | meaning |", "|---|---|"] + [f"| `{k}` | {TRAIN_KEYS[k]} |" for k in written]
        return "\n".join(rows) + "\n"
    if name == "assumptions":
        from dataclasses import fields

        from moecalc.assumptions import Assumptions
        from moecalc.render.units import gib

        rows = ["| name | default | kind | used without --gpu | meaning |", "|---|---|---|---|---|"]
        for f in fields(Assumptions):
            m = f.metadata
            default = gib(f.default) if m["kind"] == "size" else str(f.default).lower()
            rows.append(f"| `{f.name}` | {default} | {m['kind']} | {'yes' if m['model_only'] else 'no'} | "
                        f"{m['doc']} |")
        return "\n".join(rows) + "\n"
    if name == "options":
        from moecalc.options import DECLARED, flag

        rows = ["| option | panel | meaning |", "|---|---|---|"]
        for option, (f, group) in DECLARED.items():
            aliases = ", ".join(f"`{a}`" for a in f.json_schema_extra["aliases"])
            spelled = f"`{flag(option)} {f.json_schema_extra['metavar']}`" + (f" ({aliases})" if aliases else "")
            rows.append(f"| {spelled} | {group.panel} | {f.description} |")
        return "\n".join(rows) + "\n"
    if name == "families":
        import json

        from moecalc.spec.hf_families import FAMILIES

        configs = ROOT / "tests" / "data" / "configs"
        counted = {**json.loads((ROOT / "tests" / "data" / "transformers_param_counts.json").read_text())["models"],
                   **json.loads((configs / "families" / "transformers_counts.json").read_text())["counts"]}
        synthetic = json.loads((ROOT / "tests" / "data" / "transformers_param_counts_synthetic.json").read_text())
        examples: dict[str, list[str]] = {}
        for path in sorted([*configs.glob("*.json"), *configs.glob("families/*.json"), *configs.glob("more/*.json"),
                            *(ROOT / "tests" / "data" / "configs_synthetic").glob("*.json")]):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("model_type"), str):
                mark = "exact" if counted.get(path.stem, {}).get("total") or path.stem in synthetic["models"] \
                    else "published total"
                examples.setdefault(data["model_type"], []).append(f"{path.stem} ({mark})")
        rows = ["| model_type | what it reads | configs checked (against transformers' count, or published totals) |",
                "|---|---|---|"]
        for key in sorted(FAMILIES):
            doc = " ".join((FAMILIES[key].__doc__ or "").split())
            first = doc.split(": ", 1)[0] if ": " in doc[:140] else doc.split(". ")[0]
            rows.append(f"| `{key}` | {first} | {', '.join(examples.get(key, [])) or 'none here'} |")
        return "\n".join(rows) + "\n"
    if name in ("calibration-constants", "calibration-sources"):
        import json

        from moecalc.assumptions import DOCS

        data = json.loads((ROOT / "moecalc" / "data" / "calibration.json").read_text())
        if name == "calibration-constants":
            rows = ["| constant | fitted | bound | box | meaning |", "|---|---|---|---|---|"]
            from moecalc.calibration import BOUND

            for k, v in data["constants"].items():
                lo, hi = data["box"][k]
                rows.append(f"| `{k}` | {v:g} | {BOUND[k]:g} | [{lo:g}, {hi:g}] | {DOCS[k]} |")
            return "\n".join(rows) + "\n"
        names = list(data["constants"])
        rows = ["| source left out | cases | held-out median | " + " | ".join(f"`{k}`" for k in names) + " |",
                "|---|---|---|" + "---|" * len(names)]
        import statistics

        for source, c in data["leave_one_source_out"].items():
            held = [r["ratio_held_out"] for r in data["cases"] if r["source"] == source]
            rows.append(f"| {source} | {len(held)} | {statistics.median(held):.2f} | "
                        + " | ".join(f"{c[k]:g}" for k in names) + " |")
        return "\n".join(rows) + "\n"
    if name == "limits":
        from moecalc.parsing import LIMITS, MAX_AXIS, MAX_REAL, MAX_TOKENS, MIN_REAL
        from moecalc.spec.model import SIZE_LIMITS
        from moecalc.spec.types import MAX_DIMENSION
        from moecalc.sweep import MAX_GRID

        rows = ["| input | largest value |", "|---|---|"]
        rows += [f"| `{k}` | {v:,} |" for k, v in sorted(LIMITS.items())]
        rows += [f"| any other count (`--context`, `--isl`, `--osl`, route's `--tokens`, `--seq-len`) | {MAX_TOKENS:,} |",
                 f"| values on one sweep axis | {MAX_AXIS:,} |", f"| configurations one sweep enumerates | {MAX_GRID:,} |",
                 f"| a positive number (a price, a limit, a factor) | {MIN_REAL:g} to {MAX_REAL:g} |",
                 f"| any integer of a spec or hardware file | {MAX_DIMENSION:,} |"]
        rows += [f"| spec `{k}` | {v:,} |" for k, v in SIZE_LIMITS.items()]
        return "\n".join(rows) + "\n"
    raise SystemExit(f"docs: unknown generator {name!r}")


def plot(command: str, page: Path, check: bool) -> tuple[str, bool]:
    """(the block: the image's link, whether the committed image differs from a fresh drawing)."""
    import tempfile

    args = shlex.split(command)
    if "--plot" not in args or args[0] != "moecalc":
        raise SystemExit(f"docs: {command!r}: a plot block runs moecalc with --plot FILE")
    target = ROOT / args[args.index("--plot") + 1]
    with tempfile.TemporaryDirectory() as tmp:
        drawn = Path(tmp) / target.name
        args[args.index("--plot") + 1] = str(drawn)
        done = subprocess.run([sys.executable, "-m", "moecalc", *args[1:]], cwd=ROOT, env=ENV, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0 or not drawn.is_file():
            raise SystemExit(f"docs: {command!r} failed with exit code {done.returncode}:\n{done.stderr}")
        fresh = drawn.read_bytes()
    stale = not target.is_file() or target.read_bytes() != fresh
    if stale and not check:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fresh)
    link = os.path.relpath(target, page.parent)
    return f"![{' '.join(args[1:args.index('--plot')])}]({link})\n", stale and check


def render(kind: str, arg: str, bench: bool, old: str) -> str:
    if kind == "run":
        return run(arg)
    if kind == "generate":
        return generate(arg)
    return run(arg) if bench else old


def masked(text: str) -> str:
    """The text with its timings masked and its whitespace collapsed (a timing of another length
    moves the terminal's line breaks)."""
    for pattern in TIMING:
        text = pattern.sub("<timing>", text)
    return " ".join(text.split())


def process(path: Path, check: bool, bench: bool) -> list[str]:
    """Regenerate one file's blocks; return the stale ones (check) or write the file."""
    text = path.read_text(encoding="utf-8")
    out, stale, pos = [], [], 0
    for m in MARKER.finditer(text):
        if m.start() < pos:
            continue
        end = text.find(END, m.end())
        if end < 0:
            raise SystemExit(f"docs: {path.relative_to(ROOT)}: {m.group(0).strip()} has no {END.strip()}")
        old = text[m.end():end]
        image_stale = False
        if m.group(1) == "plot":
            new, image_stale = plot(m.group(2), path, check)
        else:
            new = render(m.group(1), m.group(2), bench, old)
        if image_stale or (m.group(1) != "bench" and masked(new) != masked(old)):
            stale.append(f"{path.relative_to(ROOT)}: {m.group(1)}: {m.group(2)}")
        out += [text[pos:m.end()], new]
        pos = end
    out.append(text[pos:])
    if not check:
        path.write_text("".join(out), encoding="utf-8")
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block is stale")
    parser.add_argument("--bench", action="store_true", help="also re-run the benchmark blocks")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    stale = [s for path in files() for s in process(path, args.check, args.bench)]
    if args.check and stale:
        print("stale generated blocks (run python tools/docs.py):", *stale, sep="\n  ")
        return 1
    verb = "checked" if args.check else "regenerated"
    print(f"docs: {verb} {sum(len(MARKER.findall(p.read_text())) for p in files())} blocks in {len(files())} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
