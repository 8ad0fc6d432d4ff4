"""--plot (issue 18): each of the five pictures renders to a PNG of 800 x 500 that decodes, its
plotted series are the numbers the JSON prints (read back from the figure's artists), an SVG
is the same bytes twice, and the bad cases are one line."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from moecalc.cli import app

matplotlib = pytest.importorskip("matplotlib")
runner = CliRunner()

COMMANDS = {
    "estimate": ["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "64"],
    "estimate-model": ["estimate", "qwen3-30b-a3b"],
    "compare": ["compare", "qwen3-30b-a3b", "llama-3.1-8b"],
    "sweep": ["sweep", "qwen3-30b-a3b", "--gpu", "h100,h200,l40s", "--gpus", "1..8", "--batch", "1..64"],
    "route": ["route", "deepseek-v3", "--routing", "zipf:1.2", "--ep", "32"],
    "train": ["train", "qwen3-30b-a3b", "--tokens", "1T", "--gpu", "h100", "--gpus", "64", "--pp", "2"],
}


def drawn(name: str, tmp_path, suffix: str = ".png"):
    """(the JSON the command prints, the picture's path) from one run with --plot and --format json."""
    path = tmp_path / f"{name}{suffix}"
    result = runner.invoke(app, [*COMMANDS[name], "--format", "json", "--plot", str(path)])
    assert result.exit_code == 0, result.stderr
    assert f"wrote {path}" in result.stderr
    return json.loads(result.stdout), path


def figure_of(name: str, data: dict):
    from moecalc.render.plot import figure

    return figure(name.split("-")[0], data)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_picture_decodes_at_the_stated_size(name, tmp_path):
    import matplotlib.image as image

    _, path = drawn(name, tmp_path)
    pixels = image.imread(str(path))
    assert pixels.shape == (500, 800, 4)
    assert pixels[..., :3].std() > 0.05                 # something is drawn, not a blank page


def bars(ax) -> list[float]:
    return [round(p.get_height(), 9) for p in ax.patches]


def widths(ax) -> list[float]:
    return [round(p.get_width(), 9) for p in ax.patches]


def approx(values):
    return pytest.approx([round(v, 9) for v in values], rel=1e-9)


def test_estimate_picture_is_the_json(tmp_path):
    data, _ = drawn("estimate", tmp_path)
    fig = figure_of("estimate", data)
    mem, perf = data["memory"], data["perf"]
    per = mem["per_gpu"]
    assert sum(widths(fig.axes[0])) == pytest.approx(per["weights_bytes"] / 1e9 + per["kv_cache_bytes"] / 1e9
                                                     + per["activation_workspace_bytes"] / 1e9
                                                     + per["runtime_overhead_bytes"] / 1e9
                                                     + per["comm_buffer_bytes"] / 1e9)
    assert fig.axes[0].lines[0].get_xdata()[0] == pytest.approx(mem["capacity_per_gpu_bytes"] / 1e9)
    terms = ("compute", "memory", "comm", "overhead")
    assert bars(fig.axes[1]) == approx([perf[s][f"{t}_seconds"] * 1e3 for s in ("decode", "prefill") for t in terms])


def test_compare_picture_is_the_json(tmp_path):
    data, _ = drawn("compare", tmp_path)
    fig = figure_of("compare", data)
    models = data["models"]
    assert bars(fig.axes[0]) == approx([m["params"]["total"] / 1e9 for m in models]
                                       + [m["params"]["active"] / 1e9 for m in models])
    assert bars(fig.axes[2]) == approx([m["flops"]["decode_per_token"] / 1e9 for m in models])
    floor = fig.axes[3].lines[0]
    assert list(floor.get_xdata()) == [int(c) for c in models[0]["vram_floor_by_context"]]
    assert list(floor.get_ydata()) == approx([v / 1e9 for v in models[0]["vram_floor_by_context"].values()])


def test_sweep_picture_is_the_json_with_one_colour_per_gpu(tmp_path):
    from matplotlib.colors import to_hex

    from moecalc.render.plot import gpu_colour

    data, _ = drawn("sweep", tmp_path)
    fig = figure_of("sweep", data)
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == list(data["interactivity_by_gpu"])
    for line, (gpu, rows) in zip(lines, data["interactivity_by_gpu"].items()):
        assert list(line.get_xdata()) == [r["tokens_per_s_per_user"] for r in rows]
        assert list(line.get_ydata()) == [r["tokens_per_s_per_gpu"] for r in rows]
        assert to_hex(line.get_color()) == to_hex(gpu_colour(gpu))
    assert len({to_hex(gpu_colour(g)) for g in ("h100", "h200", "b200", "mi300x", "l40s", "gb200")}) == 6
    # each GPU type's frontier: no point of a type is beaten by another point of the same type
    for rows in data["interactivity_by_gpu"].values():
        for a in rows:
            assert not any(b["tokens_per_s_per_gpu"] > a["tokens_per_s_per_gpu"]
                           and b["tokens_per_s_per_user"] > a["tokens_per_s_per_user"] for b in rows)
    offsets = [tuple(c.get_offsets()[0]) for c in fig.axes[1].collections]
    assert offsets == [pytest.approx((r["perf"]["tpot_seconds"] * 1e3, r["cost"]["usd_per_million_output_tokens"]))
                       for r in data["pareto"]]


def test_route_picture_is_the_json(tmp_path):
    data, _ = drawn("route", tmp_path)
    fig = figure_of("route", data)
    counts, expected = data["experts"]["counts"], data["experts"]["expected_share"]
    order = sorted(range(len(counts)), key=lambda e: (-expected[e], e))
    assert bars(fig.axes[0]) == approx([counts[e] / sum(counts) for e in order])
    tokens = data["ranks"]["tokens"]
    assert bars(fig.axes[1]) == approx([t / sum(tokens) for t in tokens])


def test_train_picture_is_the_json(tmp_path):
    data, _ = drawn("train", tmp_path)
    fig = figure_of("train", data)
    sec = data["train"]["step_bound"]["seconds"]
    assert bars(fig.axes[0]) == approx([sec[k] for k in ("compute", "expert_alltoall", "tp_allreduce",
                                                         "data_parallel", "pipeline_bubble")])
    per = data["memory"]["per_gpu"]
    assert widths(fig.axes[1]) == approx([per[k] / 1e9 for k in ("weights_and_grads_bytes", "optimizer_bytes",
                                                                   "activations_bytes")])


def test_svg_is_deterministic(tmp_path):
    """Twice the same bytes, and no date or software tag in them."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, one = drawn("route", tmp_path / "a", ".svg")
    two = tmp_path / "b" / "route.svg"
    assert runner.invoke(app, [*COMMANDS["route"], "--plot", str(two)]).exit_code == 0
    text = one.read_bytes()
    assert text == two.read_bytes()
    assert b"<dc:date>" not in text and b"Matplotlib v" not in text


def test_plot_errors_are_one_line(tmp_path, monkeypatch):
    def fails(*args):
        result = runner.invoke(app, [*args])
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result.stderr

    assert "must end in .png or .svg" in fails("estimate", "qwen3-30b-a3b", "--plot", str(tmp_path / "x.pdf"))
    existing = tmp_path / "x.png"
    existing.write_bytes(b"keep")
    assert "--force" in fails("estimate", "qwen3-30b-a3b", "--plot", str(existing))
    assert existing.read_bytes() == b"keep"
    assert "folder does not exist" in fails("estimate", "qwen3-30b-a3b", "--plot", str(tmp_path / "no" / "x.png"))
    assert "drop --host" in fails("estimate", "qwen3-30b-a3b", "--gpu", "rtx4090", "--host", "desktop-ddr5",
                                  "--plot", str(tmp_path / "local.png"))
    assert not (tmp_path / "local.png").exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)           # as if the extra were not installed
    assert "pip install 'moecalc[plot]'" in fails("estimate", "qwen3-30b-a3b", "--plot", str(tmp_path / "y.png"))
