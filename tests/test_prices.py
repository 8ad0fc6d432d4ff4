"""Prices and their sources (issue 21): every bundled price carries its date, kind and source keys
faithful to the reference's prices table; moecalc.prices judges it dated, stale or undated as of
MOECALC_TODAY; estimate, compare, train and sweep say so beside the cost; a sweep names the GPU
types it ranked without a price; every source key the catalog cites exists in the reference.

The reference is held through tests/data/hardware_reference.json, a copy of the project
reference's ``sources:`` keys and ``prices_usd_per_gpu_hr`` list (tests read tests/data);
``test_the_reference_copy_is_current`` compares the copy, and the catalog's citations, with
../shared/reference/hardware.yaml where that sits beside the repository, and skips where not.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from moecalc.cli import app
from moecalc.errors import MoecalcError
from moecalc.hardware import load_catalog
from moecalc.prices import flagged, freshness, price_basis, sweep_prices, today

from conftest import DATA

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "moecalc" / "data" / "hardware.yaml"
REFERENCE = ROOT.parent / "shared" / "reference" / "hardware.yaml"
COPY = json.loads((DATA / "hardware_reference.json").read_text())
DAY = dt.date(2026, 12, 2)
ON = {"MOECALC_TODAY": "2026-12-02"}

# catalog key -> the reference's device name, for every GPU the reference prices
REFERENCE_DEVICE = {"a100-40gb": "a100_40gb_sxm", "h100": "h100_sxm", "h100-nvl": "h100_nvl", "h200": "h200_sxm",
                    "b200": "b200_hgx", "l4": "l4", "a10g": "a10g", "mi300x": "mi300x", "mi325x": "mi325x"}


def run(*args, env=ON):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 0, result.stderr
    return result


def as_json(*args, env=ON) -> dict:
    return json.loads(run(*args, "--format", "json", env=env).stdout,
                      parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


# --------------------------------------------------------------------------- the judgement

@pytest.mark.parametrize("date, until, on, want", [
    ("2026-06", None, DAY, "dated 2026-06"),
    ("2025-12", None, DAY, "dated 2025-12"),            # 12 months: still dated
    ("2025-11", None, DAY, "stale"),                    # 13 months
    ("2026-06", None, dt.date(2027, 7, 1), "stale"),
    ("2027-03", None, DAY, "dated 2027-03"),            # after the day: not stale
    (None, None, DAY, "undated"),
    (None, "2025-01-01", DAY, "stale"),                 # a capacity-block rate past its validity
    (None, "2025-01-01", dt.date(2025, 1, 1), "stale"),  # valid until that day, not on it
    (None, "2025-01-01", dt.date(2024, 12, 31), "undated"),
    ("2026-06", "2026-11-30", DAY, "stale"),            # a recent date does not outlive its validity
], ids=["recent", "twelve-months", "thirteen-months", "a-year-on", "future", "undated", "validity-ended",
        "validity-ends-that-day", "validity-holds", "dated-but-ended"])
def test_freshness(date, until, on, want):
    assert freshness(date, until, on) == want


def test_today_is_the_environment_or_the_real_date(monkeypatch):
    monkeypatch.setenv("MOECALC_TODAY", "2030-02-28")
    assert today() == dt.date(2030, 2, 28)
    monkeypatch.setenv("MOECALC_TODAY", "")
    assert today() == dt.date.today()
    monkeypatch.delenv("MOECALC_TODAY")
    assert today() == dt.date.today()
    for bad in ("2026-13-01", "2026-02-30", "tomorrow", "20261202", "2026-12"):
        monkeypatch.setenv("MOECALC_TODAY", bad)
        with pytest.raises(MoecalcError, match="MOECALC_TODAY"):
            today()


def test_a_bad_today_is_one_line():
    result = runner.invoke(app, ["estimate", "mixtral-8x7b", "--gpu", "h200"], env={"MOECALC_TODAY": "2026-12-32"})
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "moecalc: error: field 'MOECALC_TODAY': '2026-12-32' is not a date (YYYY-MM-DD, e.g. 2026-12-02)"]


def test_a_user_given_price_is_not_judged():
    _, acc = load_catalog().gpu("mi325x")
    b = price_basis(acc, 7.5, DAY)
    assert b["price_per_gpu_hour"] == 7.5 and b["price_freshness"] == "user-given" and not flagged(b)
    assert b["price_date"] is None and b["price_as_of"] is None


# --------------------------------------------------------------------------- the bundled catalog

def test_every_bundled_price_has_its_provenance():
    """Kind, source keys and a YYYY-MM date or an explicit null, for every priced GPU; the
    judgement as of 2026-12-02 is what the issue describes."""
    text = BUNDLED.read_text()
    catalog = load_catalog()
    priced = {k: a for k, a in catalog.accelerators.items() if a.price_usd_per_hour is not None}
    assert set(priced) == set(REFERENCE_DEVICE)
    for key, a in priced.items():
        block = text.split(f"\n  {key}:\n", 1)[1].split("\n\n", 1)[0]
        assert "price_date:" in block, f"{key}: price_date not written (null when undated)"
        assert a.price_kind and a.price_source_keys and a.price_source, key
        for k in a.price_source_keys:
            assert f"({k})" in a.price_source or k in a.price_source, (key, k)
    judged = {k: freshness(a.price_date, a.price_valid_until, DAY) for k, a in priced.items()}
    assert judged == {"a100-40gb": "stale", "h100": "undated", "h100-nvl": "undated", "h200": "dated 2026-06",
                      "b200": "dated 2026-06", "l4": "undated", "a10g": "dated 2026-06", "mi300x": "undated",
                      "mi325x": "undated"}


def test_the_plain_a100_is_the_unpriced_80gb():
    key, acc = load_catalog().gpu("a100")
    assert key == "a100-80gb" and acc.price_usd_per_hour is None and acc.price_kind is None
    assert price_basis(acc, None, DAY)["price_freshness"] is None


def _entries(device: str) -> list[dict]:
    return [e for e in COPY["prices_usd_per_gpu_hr"] if e["device"] == device]


def test_bundled_prices_are_the_references():
    """Each price is one of the reference's for that device: its value (a range's low end for
    range-low), its source key, its date when the reference gives a month (else null), the end of
    its validity when the reference gives one, and the kind its provider line says."""
    for key, a in load_catalog().accelerators.items():
        if a.price_usd_per_hour is None:
            continue
        matches = []
        for e in _entries(REFERENCE_DEVICE[key]):
            via = e["via"] if isinstance(e["via"], list) else [e["via"]]
            value = e["value"]
            low = float(str(value).split("-")[0]) if isinstance(value, str) else value
            if low == a.price_usd_per_hour and set(a.price_source_keys) <= set(via):
                matches.append(e)
        assert len(matches) == 1, f"{key}: ${a.price_usd_per_hour} from {a.price_source_keys} is not in the reference"
        e = matches[0]
        date = str(e["date"])
        assert a.price_date == (date if re.fullmatch(r"\d{4}-\d{2}", date) else None), key
        until = re.search(r"valid until (\d{4}-\d{2}-\d{2})", date)
        assert a.price_valid_until == (until.group(1) if until else None), key
        provider = e["provider"].lower()
        want = ("reservation" if "reservation" in provider else "range-low" if "range" in provider else
                "whole-instance" if "whole" in provider else "on-demand" if "on-demand" in provider else None)
        assert a.price_kind == want, key
        if a.price_kind == "range-low":
            assert isinstance(e["value"], str)


def _cited(data: dict) -> dict[str, list[str]]:
    """Every source key the catalog cites -> where: snake_case names in `source` and
    `price_source` strings, a `price_source`'s parenthesised keys, and `price_source_keys`.
    (A one-word key such as genz reads like prose; those are checked only where structured.)"""
    cited: dict[str, list[str]] = {}
    for section in ("accelerators", "interconnects", "hosts"):
        for name, entry in data.get(section, {}).items():
            where = f"{section}.{name}"
            for field in ("source", "price_source"):
                text = entry.get(field) or ""
                for key in re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", text):
                    cited.setdefault(key, []).append(f"{where}.{field}")
                for group in re.findall(r"\(([a-z0-9_]+(?:, ?[a-z0-9_]+)*)\)", text) if field == "price_source" else ():
                    for key in re.split(r", ?", group):
                        cited.setdefault(key, []).append(f"{where}.{field}")
            for key in entry.get("price_source_keys") or []:
                cited.setdefault(key, []).append(f"{where}.price_source_keys")
    return cited


def test_every_cited_source_key_exists():
    cited = _cited(yaml.safe_load(BUNDLED.read_text()))
    missing = {k: v for k, v in cited.items() if k not in set(COPY["sources"])}
    assert not missing, f"cited but not in the reference sources table: {missing}"
    assert "public_hw_notes_md" in cited and "claude_research_md" not in cited      # the renamed key, followed


def test_the_reference_copy_is_current():
    """The copy in tests/data against ../shared/reference, and the catalog's citations against the
    reference itself (skipped where ../shared is not beside the repository)."""
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is not here")
    ref = yaml.safe_load(REFERENCE.read_text())
    assert sorted(ref["sources"]) == COPY["sources"], "refresh tests/data/hardware_reference.json"
    assert json.loads(json.dumps(ref["prices_usd_per_gpu_hr"], default=str)) == COPY["prices_usd_per_gpu_hr"], \
        "refresh tests/data/hardware_reference.json"
    missing = sorted(set(_cited(yaml.safe_load(BUNDLED.read_text()))) - set(ref["sources"]))
    assert not missing, f"cited but not in {REFERENCE}: {missing}"


# --------------------------------------------------------------------------- hardware files

GPU = """
accelerators:
  my-gpu:
    name: My GPU
    memory_gb: 96.0
    hbm_tbps: 4.0
    dense_tflops: {bf16: 900.0}
    scale_up: nvlink4
    scale_up_domain: 8
    price_usd_per_hour: 2.0
    price_source: "my cloud, 2026-11"
"""


def _hw(tmp_path, extra: str = "") -> str:
    path = tmp_path / "hw.yaml"
    path.write_text(GPU + extra)
    return str(path)


def test_an_old_hardware_file_still_works(tmp_path):
    """No provenance fields: priced, and judged undated (its date is only in the words)."""
    r = as_json("estimate", "mixtral-8x7b", "--gpu", "my-gpu", "--hardware-file", _hw(tmp_path))
    assert r["cost"]["price_per_gpu_hour"] == 2.0 and r["cost"]["price_source"] == "my cloud, 2026-11"
    assert r["cost"]["price_freshness"] == "undated" and r["cost"]["price_source_keys"] == []


def test_a_hardware_file_with_provenance(tmp_path):
    extra = "    price_date: '2026-11'\n    price_kind: spot\n    price_valid_until: 2027-01-01\n"   # a YAML date
    r = as_json("estimate", "mixtral-8x7b", "--gpu", "my-gpu", "--hardware-file", _hw(tmp_path, extra))
    c = r["cost"]
    assert (c["price_date"], c["price_kind"], c["price_valid_until"], c["price_freshness"]) == \
        ("2026-11", "spot", "2027-01-01", "dated 2026-11")
    late = as_json("estimate", "mixtral-8x7b", "--gpu", "my-gpu", "--hardware-file", _hw(tmp_path, extra),
                   env={"MOECALC_TODAY": "2027-01-01"})
    assert late["cost"]["price_freshness"] == "stale"


@pytest.mark.parametrize("extra, needle", [
    ("    price_date: '2026-13'\n", "my-gpu.price_date': must be YYYY-MM"),
    ("    price_date: 2026-11-01\n", "price_date"),
    ("    price_kind: cheap\n", "price_kind"),
    ("    price_valid_until: '2025-02-30'\n", "my-gpu.price_valid_until': must be a date"),
    ("    price_source_keys: my_key\n", "price_source_keys"),
], ids=["month-13", "a-day", "kind", "no-such-day", "keys-not-a-list"])
def test_bad_provenance_is_one_line(tmp_path, extra, needle):
    result = runner.invoke(app, ["estimate", "mixtral-8x7b", "--gpu", "my-gpu", "--hardware-file",
                                 _hw(tmp_path, extra)], env=ON)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("moecalc: error: ")
    assert needle in lines[0]


def test_provenance_without_a_price_is_refused(tmp_path):
    text = GPU.replace("    price_usd_per_hour: 2.0\n    price_source: \"my cloud, 2026-11\"\n",
                       "    price_date: '2026-11'\n")
    path = tmp_path / "hw.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["estimate", "mixtral-8x7b", "--gpu", "my-gpu", "--hardware-file", str(path)])
    assert result.exit_code == 2 and "price_usd_per_hour is not given" in result.stderr


# --------------------------------------------------------------------------- what the commands print

PRICE_KEYS = ("price_per_gpu_hour", "price_source", "price_kind", "price_date", "price_valid_until",
              "price_source_keys", "price_freshness", "price_as_of")


def test_estimate_json_gives_the_price_basis():
    r = as_json("estimate", "mixtral-8x7b", "--gpu", "h200")
    assert {k: r["cost"][k] for k in PRICE_KEYS} == {k: r["hardware"][k] for k in PRICE_KEYS} == {
        "price_per_gpu_hour": 2.25, "price_source": "packet.ai on-demand, 2026-06 (packetai_pricing)",
        "price_kind": "on-demand", "price_date": "2026-06", "price_valid_until": None,
        "price_source_keys": ["packetai_pricing"], "price_freshness": "dated 2026-06", "price_as_of": "2026-12-02"}
    later = as_json("estimate", "mixtral-8x7b", "--gpu", "h200", env={"MOECALC_TODAY": "2027-07-01"})
    assert later["cost"]["price_freshness"] == "stale" and later["cost"]["price_as_of"] == "2027-07-01"
    a100 = as_json("estimate", "mixtral-8x7b", "--gpu", "a100-40gb", "--gpus", "4")
    assert a100["cost"]["price_freshness"] == "stale" and a100["cost"]["price_valid_until"] == "2025-01-01"
    mine = as_json("estimate", "mixtral-8x7b", "--gpu", "mi325x", "--price-per-hour", "3")
    assert mine["cost"]["price_freshness"] == "user-given" and mine["cost"]["price_source"] == "--price-per-hour"


def test_a_deployment_that_does_not_fit_keeps_its_price_basis():
    r = as_json("estimate", "deepseek-v3", "--gpu", "mi325x", "--gpus", "1")
    assert r["cost"]["usd_per_hour"] is None
    assert r["cost"]["price_freshness"] == "undated" and r["cost"]["price_source_keys"] == ["awesomeagents_mi325x"]


def test_estimate_table_says_check_before_quoting():
    text = " ".join(run("estimate", "mixtral-8x7b", "--gpu", "mi325x").stdout.split())
    assert "price basis range-low, undated: check before quoting" in text
    stale = " ".join(run("estimate", "mixtral-8x7b", "--gpu", "a100-40gb", "--gpus", "4").stdout.split())
    assert ("price basis reservation, stale: valid until 2025-01-01, as of 2026-12-02 (MOECALC_TODAY): check "
            "before quoting") in stale
    assert "prices as of MOECALC_TODAY=2026-12-02" in stale              # named among the assumptions
    dated = " ".join(run("estimate", "mixtral-8x7b", "--gpu", "h200").stdout.split())
    assert "price source packet.ai on-demand, 2026-06 (packetai_pricing)" in dated
    assert "price basis" not in dated and "check before" not in dated and "prices as of MOECALC_TODAY=2026-12-02" in dated
    mine = " ".join(run("estimate", "mixtral-8x7b", "--gpu", "mi325x", "--price-per-hour", "3").stdout.split())
    assert "price basis" not in mine and "check before" not in mine and "prices as of" not in mine
    requests = " ".join(run("estimate", "mixtral-8x7b", "--gpu", "mi325x", "--isl", "1000", "--osl", "100")
                        .stdout.split())
    assert "range-low, undated: check before quoting" in requests


def test_train_gives_the_price_basis():
    args = ("train", "deepseek-v3", "--tokens", "1T", "--gpu", "h100", "--gpus", "2048", "--pp", "16", "--ep", "64")
    t = as_json(*args)["train"]
    assert t["price_freshness"] == "undated" and t["price_kind"] == "on-demand" and t["usd"] is not None
    assert "on-demand, undated: check before quoting" in " ".join(run(*args).stdout.split())
    assert as_json(*args, "--price-per-hour", "2")["train"]["price_freshness"] == "user-given"


def test_compare_says_what_its_cost_rests_on():
    text = " ".join(run("compare", "qwen3-30b-a3b", "qwen3-8b", "--gpu", "mi325x").stdout.split())
    assert "Instinct MI325X at $2.000/GPU-hour (low end of a" in text and "check before quoting" in text
    unpriced = " ".join(run("compare", "qwen3-30b-a3b", "qwen3-8b", "--gpu", "a100").stdout.split())
    assert "A100 SXM 80GB: no price (--price-per-hour)" in unpriced
    r = as_json("compare", "qwen3-30b-a3b", "qwen3-8b", "--gpu", "mi325x")
    assert all(m["cost"]["price_freshness"] == "undated" for m in r["models"])


SWEEP = ("sweep", "mixtral-8x7b", "--gpu", "a100,a100-40gb,h200,mi325x", "--gpus", "2,4", "--tp", "1,2",
         "--batch", "1,8")


def test_sweep_names_unpriced_and_stale_prices():
    s = as_json(*SWEEP)["summary"]
    assert s["unpriced_gpus"] == ["a100-80gb"] and s["price_as_of"] == "2026-12-02"
    assert [(p["gpu"], p["price_freshness"]) for p in s["stale_prices"]] == [("a100-40gb", "stale"),
                                                                              ("mi325x", "undated")]
    assert s["stale_prices"][0]["price_valid_until"] == "2025-01-01"
    text = " ".join(run(*SWEEP).stdout.split())
    assert ("prices: ranked without a price (last on cost; give --price-per-hour): a100-80gb; stale or undated "
            "prices (check before quoting; as of 2026-12-02, MOECALC_TODAY): a100-40gb $1.84/h stale: valid until "
            "2025-01-01 (aws_capacity_blocks), mi325x $2.00/h undated (awesomeagents_mi325x)") in text


def test_a_sweep_on_fresh_or_given_prices_says_nothing():
    fresh = as_json("sweep", "mixtral-8x7b", "--gpu", "h200,b200", "--gpus", "2", "--batch", "1")["summary"]
    assert fresh["unpriced_gpus"] == [] and fresh["stale_prices"] == []
    given = as_json(*SWEEP, "--price-per-hour", "2")["summary"]
    assert given["unpriced_gpus"] == [] and given["stale_prices"] == [] and given["price_as_of"] is None
    assert "prices:" not in run(*SWEEP, "--price-per-hour", "2").stdout


def test_sweep_prices_by_the_library():
    catalog = load_catalog()
    got = sweep_prices(catalog, ["a100", "A100-80GB", "h200"], None, DAY)
    assert got == {"unpriced_gpus": ["a100-80gb"], "stale_prices": [], "price_as_of": "2026-12-02"}


def test_hardware_table_marks_stale_and_undated_prices():
    """The $/GPU-h column: A100-40GB's expired reservation rate and H100's undated one carry a
    star and a caption; H200's price dated 2026-06 does not."""
    from typer.testing import CliRunner

    from moecalc.cli import app

    out = CliRunner().invoke(app, ["hardware"], env={"COLUMNS": "120", "MOECALC_TODAY": "2026-12-02"}).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip() and line.split()[0] in
            ("a100-40gb", "h100", "h200")}
    assert rows["a100-40gb"].rstrip().endswith("1.84*") and rows["h100"].rstrip().endswith("2.49*")
    assert rows["h200"].rstrip().endswith("2.25")
    assert "stale or undated price: check before quoting" in " ".join(out.split())


def test_disaggregated_pools_each_show_their_price():
    """H100 prefill and H200 decode pools: the hourly price is the sum over both pools' instances
    (2 x 16 x $2.49 + 1 x 16 x $2.25 = $115.68/hour; it printed $2.25/GPU-hour x 16 = $115.68),
    and each pool carries its own price basis (H100's undated)."""
    import json

    from typer.testing import CliRunner

    from moecalc.cli import app

    args = ["estimate", "deepseek-v3", "--gpu", "h200", "--gpus", "16", "--mode", "disaggregated", "--isl", "4000",
            "--osl", "500", "--prefill-gpu", "h100", "--prefill-gpus", "16", "--batch", "128"]
    env = {"MOECALC_TODAY": "2026-12-02", "COLUMNS": "200"}
    out = json.loads(CliRunner().invoke(app, [*args, "--format", "json"], env=env).stdout)
    pools = out["pools"]
    hourly = (pools["prefill_instances"] * pools["prefill"]["gpus"] * pools["prefill"]["price_per_gpu_hour"]
              + pools["decode_instances"] * pools["decode"]["gpus"] * pools["decode"]["price_per_gpu_hour"])
    assert out["cost"]["usd_per_hour"] == pytest.approx(hourly)
    assert pools["prefill"]["price_freshness"] == "undated" and pools["decode"]["price_freshness"] == "dated 2026-06"
    screen = " ".join(CliRunner().invoke(app, args, env=env).stdout.split())
    assert "h100 at $2.490 + 1 x 16 h200 at $2.250 per GPU-hour" in screen and "prefill price source" in screen
