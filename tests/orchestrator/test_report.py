"""`micronas report`: the files it writes, the page's content, its rendering in headless Chromium,
and bad input.

The store is written row by row with `ResultsStore.write` (random trials, see test_pareto.py). A
later test, added with the sweep, builds the report from a store written by a real sweep.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from orchestrator import _report, _report_plots
from orchestrator._report import build_report
from orchestrator.cli import main
from test_pareto import brute_force_front, brute_force_models, random_rows, write_rows

L552 = "nucleo-l552ze-q"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A store of random trials (two methods, two boards, two data sets) with bundles for most
    trials, plus a report of it."""
    root = tmp_path_factory.mktemp("sweep")
    rows = random_rows(5, n=90)
    store = write_rows(str(root / "store"), rows)
    for row in rows[:-5]:  # the last few trials left no bundle
        store.write_artifact(row["trial_key"], "model.tflite", b"TFL3")
    out = root / "report"
    summary = build_report(store.url, str(out))
    return store, rows, out, summary


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_front_matches_brute_force(sweep):
    store, rows, out, summary = sweep
    assert sorted(p.name for p in out.iterdir()) == ["front.csv", "front.parquet", "index.html"]
    csv = pd.read_csv(out / "front.csv")
    parquet = pd.read_parquet(out / "front.parquet")
    assert len(csv) == len(parquet) == summary["front_models"] > 0
    got = set(zip(parquet["dataset"], parquet["mcu"], parquet["method"], parquet["architecture_json"]))
    assert got == brute_force_front(brute_force_models(rows))
    assert set(csv["trial_key"]) == set(parquet["trial_key"])
    assert set(csv["metric_name"]) == {"macro_f1"}
    fronts = {(f["dataset"], f["mcu"], f["method"]) for f in summary["fronts"]}
    assert fronts == {k[:3] for k in got}
    assert all(0 < f["hypervolume"] <= 1 for f in summary["fronts"])
    assert summary["rows"] == len(rows) and summary["excluded_trials"] > 0


def test_page_is_self_contained_and_complete(sweep):
    store, rows, out, summary = sweep
    page = (out / "index.html").read_text()
    # Viewable offline: no script, no stylesheet or font from elsewhere, every image inline.
    assert "<script" not in page and "<link" not in page and "@import" not in page
    sources = re.findall(r"src='([^']*)'", page)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    for src in sources:
        root = ET.fromstring(base64.b64decode(src.split(",", 1)[1]))
        assert root.tag.endswith("svg")
    hrefs = re.findall(r"href='([^']*)'", page)
    assert not [h for h in hrefs if re.match(r"[a-z]+://", h)]
    # Bundle links are relative and lead to the trials' artifact folders.
    bundles = [h for h in hrefs if "artifacts/" in h]
    assert bundles
    for href in bundles:
        assert (out / href).resolve().is_dir() and (out / href / "model.tflite").is_file()
    for dataset, mcu in {(r["dataset"], r["mcu"]) for r in rows}:
        assert f"<h2 id='{dataset}--{mcu}'>" in page
    failed = [r for r in rows if r["status"] != "ok"]
    assert failed and all(r["reason"] in page for r in failed[:3])
    assert "Estimated vs verified cost" in page and "Best model per budget" in page


def test_page_renders_in_headless_chromium(sweep, tmp_path):
    """The page a user opens: no console errors, and a screenshot that is not blank."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed and could not be (`make test` runs "
                    "`apt-get install -y chromium`; without root or Debian's archive it cannot)")
    import matplotlib.image

    _, _, out, _ = sweep
    url = (out / "index.html").resolve().as_uri()
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
              "--window-size=1400,2000"]
    shot = tmp_path / "report.png"
    done = subprocess.run(common + [f"--screenshot={shot}", url], capture_output=True, text=True,
                          timeout=180)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    assert shot.is_file(), done.stderr[-2000:]
    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert pixels[..., :3].std() > 0.05  # text, tables and plots, not a blank page
    # The plots are painted: the band where the first plot sits has colour, not only grey text.
    rgb = pixels[..., :3]
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation > .3).mean() > .001

    dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0
    assert dom.stdout.count("<img class=\"plot\"") >= 2 * len(_sections(dom.stdout)) > 0
    keep = os.environ.get("MICRONAS_REPORT_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copy(shot, keep)


def _sections(dom: str) -> list[str]:
    return re.findall(r"<h2 id=\"([^\"]+)\"", dom)


def test_cli_json_and_reference_overlay(capsys, sweep, tmp_path):
    store, rows, _, _ = sweep
    out = tmp_path / "acc"
    code, printed, err = run(capsys, "report", "--storage", store.url, "--out", str(out),
                             "--metric", "accuracy", "--json")
    summary = json.loads(printed)
    assert code == 0 and err == "" and summary["metric"] == "accuracy"
    assert summary["report"] == str(out / "index.html") and summary["budgets"]
    page = (out / "index.html").read_text()
    assert "give no accuracy" not in page  # the paper's accuracy points are drawn

    code, printed, _ = run(capsys, "report", "--storage", store.url, "--out", str(tmp_path / "f1"))
    assert code == 0 and printed.startswith(f"report {tmp_path / 'f1' / 'index.html'}:")
    page = (tmp_path / "f1" / "index.html").read_text()
    assert "2 reference point(s) for this data set and board give no macro-F1" in page

    custom = tmp_path / "ours.yaml"
    custom.write_text("points:\n  - {label: our baseline, dataset: hapt, mcu: nucleo-f446re, "
                      "latency_ms: 12, memory_kb: 40, macro_f1: 77.5}\n")
    code, _, _ = run(capsys, "report", "--storage", store.url, "--out", str(tmp_path / "custom"),
                     "--reference", str(custom))
    assert code == 0 and "give no" not in (tmp_path / "custom" / "index.html").read_text()


def test_methods_get_separate_fronts(tmp_path):
    base = {"sweep": "s", "dataset": "ucihar", "mcu": L552, "status": "ok", "seed": 0}
    rows = [{**base, "trial_key": "s/m", "method": "micronas", "architecture_json": "a",
             "int8_macro_f1": .9, "verified_latency_ms": 10.0, "verified_memory_bytes": 1e4},
            {**base, "trial_key": "s/d", "method": "darts", "architecture_json": "a",
             "int8_macro_f1": .8, "verified_latency_ms": 20.0, "verified_memory_bytes": 2e4},
            {**base, "trial_key": "s/r", "method": "random", "architecture_json": "b",
             "int8_macro_f1": .7, "verified_latency_ms": 30.0, "verified_memory_bytes": 3e4}]
    store = write_rows(str(tmp_path / "s"), rows)
    summary = build_report(store.url, str(tmp_path / "out"), reference=None)
    assert {f["method"]: f["front"] for f in summary["fronts"]} == {"micronas": 1, "darts": 1, "random": 1}
    (best,) = summary["budgets"]
    assert best["method"] == "micronas" and best["trial_key"] == "s/m"


def test_a_failed_render_leaves_the_previous_report(sweep, tmp_path, monkeypatch):
    store, _, _, _ = sweep
    out = tmp_path / "out"
    build_report(store.url, str(out), reference=None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")
    monkeypatch.setattr(_report_plots, "agreement_plot", broken)
    with pytest.raises(RuntimeError):
        build_report(store.url, str(out), metric="accuracy")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(RuntimeError):
        build_report(store.url, str(tmp_path / "fresh"))
    assert not (tmp_path / "fresh").exists()


def test_a_crash_while_writing_leaves_the_previous_report(sweep, tmp_path, monkeypatch):
    """The report is written into a fresh sibling folder and switched in: a writer that dies
    after some of the files leaves the old report whole, and the next run cleans up after it."""
    store, _, _, _ = sweep
    out = tmp_path / "out"
    build_report(store.url, str(out), reference=None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from lut_store import _atomic   # the one owner of atomic writes: where the files are written
    real = _atomic._write_local
    written = []

    def dies_on_the_page(path, content, *a, **kw):
        if path.endswith("index.html"):
            raise KeyboardInterrupt   # like a kill: nothing of ours runs after it but finally
        written.append(path)
        real(path, content, *a, **kw)
    monkeypatch.setattr(_atomic, "_write_local", dies_on_the_page)
    with pytest.raises(KeyboardInterrupt):
        build_report(store.url, str(out), metric="accuracy")
    assert len(written) == 2 and all(os.path.dirname(w) != str(out) for w in written)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # no sibling left either
    monkeypatch.setattr(_atomic, "_write_local", real)

    (tmp_path / ".out.swap-0123").mkdir()        # what a SIGKILLed writer would leave
    build_report(store.url, str(out), metric="accuracy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert "int8 test accuracy" in (out / "index.html").read_text()


def test_a_folder_holding_other_files_is_not_replaced(sweep, tmp_path, capsys):
    store, _, _, _ = sweep
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, printed, err = run(capsys, "report", "--storage", store.url, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and "notes.txt" in err and "not part of a report" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "empty-store"), "no trial rows in the results store (nothing to report)"),
    (lambda d: "nosuch://bucket/x", "nosuch://bucket/x: unsupported storage URL"),
])
def test_bad_storage_is_one_line_and_writes_nothing(capsys, tmp_path, make, message):
    (tmp_path / "empty-store" / "results").mkdir(parents=True)
    code, out, err = run(capsys, "report", "--storage", make(tmp_path), "--out", str(tmp_path / "r"))
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("text, message", [
    ("points: [", "not valid YAML"),
    ("[1, 2]", "expected a mapping with a list under 'points'"),
    ("points:\n  - {dataset: ucihar, mcu: x, latency_ms: 5, accuracy: 0.9x}", "'accuracy' must be"),
    ("points:\n  - {dataset: ucihar, mcu: x, latency_ms: 5, accuracy: 250}", "is in percent"),
    ("points:\n  - {dataset: ucihar, latency_ms: 5, accuracy: 90}", "'mcu' must be"),
    ("points:\n  - {dataset: ucihar, mcu: x, accuracy: 90}", "needs 'latency_ms' or 'memory_kb'"),
])
def test_bad_reference_is_one_line(capsys, sweep, tmp_path, text, message):
    store, _, _, _ = sweep
    bad = tmp_path / "ref.yaml"
    bad.write_text(text)
    code, out, err = run(capsys, "report", "--storage", store.url, "--out", str(tmp_path / "r"),
                         "--reference", str(bad))
    assert code == 2 and err.count("\n") == 1 and message in err and str(bad) in err
    assert not (tmp_path / "r").exists()


def test_shipped_paper_points():
    points = _report.load_reference(_report.PAPER_REFERENCE)
    l552 = {(p["latency_ms"], p["accuracy"]) for p in points
            if (p["dataset"], p["mcu"]) == ("ucihar", L552)}
    assert l552 == {(25.0, 94.62), (50.0, 98.86)}


@pytest.mark.s3
def test_report_of_a_store_on_s3(s3_bucket, tmp_path):
    rows = random_rows(7, n=25)
    store = write_rows(f"s3://{s3_bucket}/sweeps", rows)
    summary = build_report(store.url, str(tmp_path / "out"))
    page = (tmp_path / "out" / "index.html").read_text()
    assert summary["front_models"] > 0 and f"s3://{s3_bucket}/sweeps/artifacts/" in page
