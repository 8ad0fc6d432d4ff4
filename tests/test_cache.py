"""moecalc.cache: a kept value comes back; a changed input, a damaged entry or a cache turned
off recomputes; an unwritable folder is skipped, never an error; the cached bundled catalog and
spec are the objects validation makes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from moecalc import cache
from moecalc.cli import app


def test_kept_values_come_back_and_changed_inputs_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("MOECALC_CACHE_DIR", str(tmp_path))
    cache.store("x", b"input one", {"value": 1})
    assert cache.load("x", b"input one") == {"value": 1}
    assert cache.load("x", b"input two") is None and cache.load("y", b"input one") is None
    (entry,) = tmp_path.glob("x-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert cache.load("x", b"input one") is None               # damaged: recomputed by the caller


@pytest.mark.parametrize("setting", ["off", ""])
def test_off_keeps_nothing(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("MOECALC_CACHE_DIR", setting)
    cache.store("x", b"k", 1)
    assert cache.load("x", b"k") is None and cache.folder() is None


def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MOECALC_CACHE_DIR", str(blocker / "below"))    # a folder under a file
    cache.store("x", b"k", 1)
    assert cache.load("x", b"k") is None


def test_cached_catalog_and_spec_give_the_same_estimate(tmp_path, monkeypatch):
    """First run validates and stores; the second reads the kept objects: the same JSON."""
    from moecalc.hardware import _bundled

    monkeypatch.setenv("MOECALC_CACHE_DIR", str(tmp_path))
    runner = CliRunner()
    args = ["estimate", "deepseek-v3", "--gpu", "h200", "--format", "json"]
    _bundled.cache_clear()
    first = runner.invoke(app, args)
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.pickle")) == ["catalog", "spec"]
    _bundled.cache_clear()
    second = runner.invoke(app, args)
    assert first.exit_code == second.exit_code == 0
    assert json.loads(first.stdout) == json.loads(second.stdout)
