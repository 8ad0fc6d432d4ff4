"""Checkpoint folders, the Hugging Face cache and Hub ids (issue 17), without the network: a mock
Hub on a loopback port (tests/hubfix.py), caches written in huggingface_hub's layout, and the
error paths. conftest.py fails any test that connects past the loopback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hubfix import COMMIT, CONFIG, PARAMS, MockHub, write_checkpoint
from moecalc.cli import app
from moecalc.spec.checkpoint import Checkpoint, Tensor, component

runner = CliRunner()


def estimate(*args: str) -> dict:
    result = runner.invoke(app, ["estimate", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def fails(*args: str) -> str:
    result = runner.invoke(app, [*args])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty Hugging Face home, online, with no token, and no sleeping between retries."""
    import huggingface_hub.utils._http as http

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(http.time, "sleep", lambda s: None)
    return home


def cached_repo(hf_home, repo: str, shards: int | None = 1) -> "Path":
    """A repository in huggingface_hub's cache layout (refs/main -> snapshots/<commit>/, as `hf
    download` leaves it): its snapshot folder, with config.json and, unless ``shards`` is None,
    the checkpoint's safetensors files."""
    root = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / COMMIT
    if shards is None:
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text(json.dumps(CONFIG))
    else:
        write_checkpoint(snapshot, shards=shards)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    return snapshot


# --- checkpoint folders ------------------------------------------------------------------------

@pytest.mark.parametrize("shards", [1, 3])
def test_checkpoint_folder_headers_are_exact(tmp_path, shards):
    """Parameters by hand (hubfix.PARAMS = 107,392) and bytes as numpy sizes them (fp16 matrices,
    fp32 norms), over one file or three shards with an index; the config's count agrees."""
    written = write_checkpoint(tmp_path / "ck", shards=shards)
    r = estimate(str(tmp_path / "ck"))
    c = r["checkpoint"]
    assert c["params"] == PARAMS == r["params"]["total"]
    assert c["bytes"] == sum(a.nbytes for a in written.values())
    assert c["bytes_by_dtype"] == {
        "fp16": sum(a.nbytes for a in written.values() if a.dtype == np.float16),
        "fp32": sum(a.nbytes for a in written.values() if a.dtype == np.float32)}
    assert len(c["files"]) == shards and c["matches"] and not r["warnings"]
    assert c["params_by_component"]["routed_experts"] == 2 * 4 * 3 * 32 * 64


def test_checkpoint_mismatch_names_the_components(tmp_path):
    """A q_proj bias the config does not describe (+64 in attention) and one expert's down_proj
    missing (-2,048 in routed_experts): the warning names both, the JSON carries the split."""
    write_checkpoint(tmp_path / "ck", drop=("model.layers.1.mlp.experts.3.down_proj.weight",),
                     extra={"model.layers.0.self_attn.q_proj.bias": np.zeros(64, np.float16)})
    r = estimate(str(tmp_path / "ck"))
    c = r["checkpoint"]
    assert not c["matches"] and c["params"] == PARAMS + 64 - 2048
    assert c["differences_by_component"] == {"attention": 64, "routed_experts": -2048}
    (warning,) = r["warnings"]
    assert "attention +64" in warning and "routed_experts -2,048" in warning
    table = runner.invoke(app, ["estimate", str(tmp_path / "ck")])
    assert "warning: the checkpoint holds" in table.stdout and "(see warning)" in table.stdout


def test_checkpoint_folder_errors_are_one_line(tmp_path):
    ck = tmp_path / "ck"
    write_checkpoint(ck, shards=2)
    (ck / "model-00002-of-00002.safetensors").unlink()
    assert "model-00002-of-00002.safetensors" in fails("estimate", str(ck))
    write_checkpoint(ck, shards=1)
    (ck / "model.safetensors.index.json").unlink()
    (ck / "model.safetensors").write_bytes(b"\xff" * 64)
    assert "not a readable safetensors header" in fails("estimate", str(ck))


def test_headers_read_as_parameters():
    """By hand: FP8 weights (64 x 64) with a block scale (1 x 1, fp32, no parameter); MXFP4 blocks
    (2 x 4 x 16 bytes: 256 values) with their e8m0 scales; the router's score-correction bias (8,
    counted with the router, as moecalc's count does); a stored rotary frequency table (a buffer);
    layer 2 of a 2-layer model is an MTP module."""
    t = {
        "model.layers.0.self_attn.q_proj.weight": Tensor("F8_E4M3", (64, 64), 4096),
        "model.layers.0.self_attn.q_proj.weight_scale_inv": Tensor("F32", (1, 1), 4),
        "model.layers.0.mlp.experts.gate_up_proj_blocks": Tensor("U8", (2, 4, 16), 128),
        "model.layers.0.mlp.experts.gate_up_proj_scales": Tensor("U8", (2, 4), 8),
        "model.layers.1.mlp.gate.e_score_correction_bias": Tensor("F32", (8,), 32),
        "model.layers.2.eh_proj.weight": Tensor("BF16", (4, 8), 64),
        "model.rotary_emb.inv_freq": Tensor("F32", (16,), 64),
    }
    c = Checkpoint("x", ["a"], t, num_layers=2)
    assert c.params_by_component == {"attention": 4096, "routed_experts": 256, "router": 8, "mtp": 32}
    assert (c.scale_bytes, c.buffer_params, c.bytes) == (12, 16, 4096 + 4 + 128 + 8 + 32 + 64 + 64)
    assert c.bytes_by_dtype == {"fp8_e4m3": 4096, "fp32": 100, "uint8": 136, "bf16": 64}


@pytest.mark.parametrize("name, want", [
    ("model.embed_tokens.weight", "embedding"), ("lm_head.weight", "lm_head"),
    ("model.layers.3.self_attn.kv_a_proj_with_mqa.weight", "attention"),
    ("model.layers.3.mlp.shared_experts.down_proj.weight", "shared_experts"),
    ("model.layers.3.mlp.shared_expert_gate.weight", "shared_experts"),
    ("model.layers.3.block_sparse_moe.experts.7.w1.weight", "routed_experts"),
    ("model.layers.3.block_sparse_moe.gate.weight", "router"), ("model.layers.3.mlp.router.weight", "router"),
    ("model.layers.3.mlp.gate_proj.weight", "dense_ffn"), ("model.layers.3.input_layernorm.weight", "norms"),
    ("model.layers.3.linear_attn.in_proj_qkvz.weight", "mixer"), ("model.visual.blocks.0.attn.qkv.weight", "vision"),
    ("mtp.layers.0.mlp.experts.0.up_proj.weight", "mtp"), ("model.layers.61.embed_tokens.weight", "mtp"),
    ("something.else", "other"),
])
def test_tensor_names_to_components(name, want):
    assert component(name, num_layers=61) == want


# --- the Hub and its cache ---------------------------------------------------------------------

def test_hub_id_from_the_mock_hub_then_offline_from_the_cache(tmp_path, hf_home, monkeypatch):
    """First run: config.json downloaded into the cache, the safetensors headers read by range
    requests (never past the header) and kept. Second run, offline with the Hub gone: the same
    numbers from the cache."""
    write_checkpoint(tmp_path / "repo", shards=2)
    with MockHub({"tiny/qwen3-moe": tmp_path / "repo"}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        online = estimate("tiny/qwen3-moe")
        assert not hub.fetched_weights()
        assert any(r[2] for r in hub.requests)                   # the headers came by ranges
    assert online["model"]["spec"] == f"tiny/qwen3-moe@{COMMIT[:12]}"
    assert online["checkpoint"]["params"] == PARAMS and online["checkpoint"]["matches"]
    assert (hf_home / "hub" / "models--tiny--qwen3-moe" / "snapshots" / COMMIT / "config.json").is_file()
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")        # nothing listens there
    for how in ({"HF_HUB_OFFLINE": "1"}, {}):
        for k, v in how.items():
            monkeypatch.setenv(k, v)
        offline = estimate("tiny/qwen3-moe", *(() if how else ("--offline",)))
        assert offline["checkpoint"] == online["checkpoint"] and offline["params"] == online["params"]


def test_a_populated_cache_is_read_offline(tmp_path, hf_home, monkeypatch):
    """A cache in huggingface_hub's layout (refs/main -> snapshots/<commit>/ with the files, as
    `hf download` leaves it): read with no server at all; a revision is the commit or branch."""
    snapshot = cached_repo(hf_home, "org/tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for arg in ("org/tiny", f"org/tiny@{COMMIT}", "org/tiny@main"):
        r = estimate(arg)
        assert r["checkpoint"]["params"] == PARAMS and r["checkpoint"]["files"] == ["model.safetensors"]
    train = runner.invoke(app, ["train", "org/tiny", "--offline", "--tokens", "1B", "--gpu", "h100", "--gpus", "1",
                                "--format", "json"])
    assert train.exit_code == 0, train.stderr


def test_cached_config_without_headers_offline_warns(tmp_path, hf_home, monkeypatch):
    cached_repo(hf_home, "org/bare", shards=None)
    r = estimate("org/bare", "--offline")
    assert "checkpoint" not in r and any("not cached" in w for w in r["warnings"])
    assert r["params"]["total"] == PARAMS


@pytest.mark.parametrize("repo, status, needle", [
    ("tiny/missing", None, "no such repository"),
    ("tiny/private", 401, "set HF_TOKEN (401)"),
    ("tiny/gated", 403, "gated repository"),
    ("tiny/busy", 429, "rate limited"),
    ("tiny/qwen3-moe@v9", None, "no revision 'v9'"),
    ("tiny/noconfig", None, "has no config.json"),
])
def test_hub_errors_are_one_line(tmp_path, hf_home, monkeypatch, repo, status, needle):
    write_checkpoint(tmp_path / "repo", shards=1)
    (tmp_path / "empty").mkdir()
    name = repo.split("@")[0]
    repos = {"tiny/qwen3-moe": tmp_path / "repo", "tiny/noconfig": tmp_path / "empty"}
    with MockHub(repos, status={name: status} if status else {}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        line = fails("estimate", repo)
    assert line.startswith(f"moecalc: error: {repo}: ") and needle in line


def test_no_network_and_offline_misses_are_one_line(hf_home, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert "cannot reach http://127.0.0.1:9" in fails("estimate", "org/absent")
    assert "offline" in fails("estimate", "org/absent", "--offline")
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    assert "offline" in fails("compare", "org/absent", "deepseek-v3")


def test_paths_and_bundled_names_are_not_hub_ids(tmp_path, monkeypatch):
    """A file that exists, a spec suffix, a bundled name: never a Hub lookup."""
    from moecalc.spec.hub import is_hub_id

    monkeypatch.chdir(tmp_path)
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "model").write_text("x")
    assert not is_hub_id("org/model") and not is_hub_id("deepseek-v3") and not is_hub_id("dir/spec.yaml")
    assert is_hub_id("Qwen/Qwen3-30B-A3B") and is_hub_id("deepseek-ai/DeepSeek-V3@main")
    assert not is_hub_id("a/b/c") and not is_hub_id("org/name@")


def test_import_takes_a_checkpoint_folder_and_a_cached_hub_id(hf_home, monkeypatch):
    """``moecalc import`` writes the same YAML for the folder and the Hub id of the same config,
    the Hub id named as its source."""
    snapshot = cached_repo(hf_home, "org/tiny")
    folder = runner.invoke(app, ["import", str(snapshot)])
    hub = runner.invoke(app, ["import", "org/tiny", "--offline"])
    assert folder.exit_code == 0 and hub.exit_code == 0, (folder.stderr, hub.stderr)
    assert f"org/tiny@{COMMIT[:12]} (Hugging Face Hub)" in hub.stdout
    assert "\nname: tiny\n" in hub.stdout            # the repository's name (the folder's is its commit)
    body = lambda text: [line for line in text.splitlines() if not line.startswith(("#", "source:", "name:"))]
    assert body(folder.stdout) == body(hub.stdout)


# --- review findings: malformed input is one line, real checkpoints' names count right ---------

def raw_safetensors(path, header: dict, data: bytes = b"") -> None:
    """A safetensors file written by hand (8-byte little-endian header length, JSON, data)."""
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


@pytest.mark.parametrize("entry, needle", [
    ({"dtype": "F16", "shape": [2], "data_offsets": [0]}, "data_offsets"),
    ({"dtype": "F16", "shape": [2], "data_offsets": ["0", "4"]}, "data_offsets"),
    ({"dtype": "F16", "shape": None, "data_offsets": [0, 4]}, "shape"),
    ({"dtype": "F16", "shape": [-2], "data_offsets": [0, 4]}, "shape"),
    ({"dtype": "F16", "shape": [1e400], "data_offsets": [0, 4]}, "shape"),
    ({"dtype": 5, "shape": [2], "data_offsets": [0, 4]}, "dtype"),
])
def test_malformed_header_entries_are_one_line(tmp_path, entry, needle):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    raw_safetensors(folder / "model.safetensors", {"model.norm.weight": entry}, b"\0" * 4)
    assert needle in fails("estimate", str(folder))


@pytest.mark.parametrize("weight_map, needle", [
    ({"a": "../outside.safetensors"}, "must name files of this folder"), ({"a": 3}, "got 3"),
    ({"a": "/etc/hostname"}, "must name files of this folder"), ({}, "it is empty"),
])
def test_index_names_only_files_of_its_folder(tmp_path, weight_map, needle):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    raw_safetensors(tmp_path / "outside.safetensors", {})
    assert needle in fails("estimate", str(folder))


def test_a_folder_missing_shards_is_refused(tmp_path):
    write_checkpoint(tmp_path / "ck", shards=3)
    (tmp_path / "ck" / "model.safetensors.index.json").unlink()
    (tmp_path / "ck" / "model-00002-of-00003.safetensors").unlink()
    assert "not all its shards" in fails("estimate", str(tmp_path / "ck"))


@pytest.mark.parametrize("hub_id", ["org/a..b", "org/a--b", "org/name.git"])
def test_names_the_hub_refuses_are_one_line(hf_home, hub_id):
    assert "not a valid Hub id" in fails("estimate", hub_id, "--offline")


def test_a_damaged_header_copy_is_read_again_or_skipped(tmp_path, hf_home, monkeypatch):
    cached_repo(hf_home, "org/tiny", shards=None)
    saved = hf_home / "assets" / "moecalc" / "org--tiny" / COMMIT / "safetensors-headers.json"
    saved.parent.mkdir(parents=True)
    for damaged in ('{"files": [], "tensors": []}', '{"files": [], "tensors": {"a": [5, [1], 2]}}', "not json"):
        saved.write_text(damaged)
        r = estimate("org/tiny", "--offline")
        assert "checkpoint" not in r and any("not cached" in w for w in r["warnings"])
    assert r["model"]["name"] == "tiny"                  # the repository's name, not the commit's


def test_real_tensor_names_count_as_the_config_does():
    """DeepSeek-V3's router bias is counted with the router (moecalc counts it there); Gemma 4's
    per_expert_scale is a weight while an FP8 weight_scale is not; 3-bit GPTQ packs 32/3 values
    an I32 (a 96-row qweight is 1,024 inputs); Nemotron-H's mixer holds attention, MLP and
    router blocks as well as Mamba."""
    t = {"model.layers.3.mlp.gate.e_score_correction_bias": Tensor("F32", (256,), 1024),
         "model.layers.3.router.per_expert_scale": Tensor("BF16", (128,), 256),
         "model.layers.3.self_attn.o_proj.weight_scale": Tensor("F32", (1,), 4),
         "model.layers.3.mlp.down_proj.qweight": Tensor("I32", (96, 64), 96 * 64 * 4),
         "backbone.layers.0.mixer.q_proj.weight": Tensor("BF16", (8, 8), 128),
         "backbone.layers.1.mixer.gate.weight": Tensor("BF16", (4, 8), 64),
         "backbone.layers.1.mixer.up_proj.weight": Tensor("BF16", (16, 8), 256),
         "backbone.layers.2.mixer.in_proj.weight": Tensor("BF16", (16, 8), 256),
         "backbone.embeddings.weight": Tensor("BF16", (10, 8), 160)}
    c = Checkpoint("x", ["a"], t, num_layers=61, quant_bits=3)
    assert c.params_by_component == {"router": 256 + 128 + 32, "dense_ffn": 1024 * 64 + 128, "attention": 64,
                                     "mixer": 128, "embedding": 80}
    assert c.scale_bytes == 4 and c.buffer_params == 0


def test_mtp_tensors_the_config_does_not_count_are_left_out():
    """Qwen3-Next's checkpoint carries mtp.* tensors its config does not describe: noted, not a
    mismatch."""
    t = {"model.layers.0.mlp.gate_proj.weight": Tensor("BF16", (4, 4), 32),
         "mtp.layers.0.mlp.gate_proj.weight": Tensor("BF16", (4, 4), 32)}
    section, warnings = Checkpoint("x", ["a"], t, num_layers=1).check({"dense_ffn": 16}, 0)
    assert section["matches"] and section["params"] == 32 and section["compared_params"] == 16
    assert len(warnings) == 1 and "left out of the comparison" in warnings[0]
    section, warnings = Checkpoint("x", ["a"], t, num_layers=1).check({"dense_ffn": 16}, 20)
    assert not section["matches"] and "mtp -4" in warnings[0]


def test_the_commit_is_the_last_snapshots_folder():
    from pathlib import Path

    from moecalc.spec.hub import _commit_of

    assert _commit_of(Path("/x/snapshots/y/hub/models--o--n/snapshots/abc/config.json")) == "abc"
