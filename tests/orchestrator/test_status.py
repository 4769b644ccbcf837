"""`micronas status`: a sweep's progress from its store alone (no Ray), over a store written by a
tiny real (dry) sweep run through `micronas sweep` — whose console output is checked too."""

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from lut_store import storage
from orchestrator._store import ResultsStore
from orchestrator.cli import main
from _synthetic import dry_source

POINTS = ["basicmotions-nucleo-l552ze-q-0.01ms-16kb-seed0",   # no network is that fast
          "basicmotions-nucleo-l552ze-q-10ms-16kb-seed0",
          "basicmotions-nucleo-l552ze-q-15ms-16kb-seed0"]


def _source(url: str, n: int = 4) -> None:
    dry_source(url, n)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, lut_folder):
    """A finished dry sweep (3 points, one infeasible, 2 trials each) and its console output."""
    tmp = tmp_path_factory.mktemp("status")
    source, store = str(tmp / "real"), tmp / "store"
    _source(source)
    shutil.copytree(lut_folder, store / "lut")
    spec = tmp / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "st", "storage": str(store), "dry": source, "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": {"latency_ms": [0.01, 10, 15], "memory_kb": [16]},
        "resources": {"cpus_per_trial": 0.5, "max_concurrent_trials": 4},
        "optuna": {"trials_per_point": 2, "startup_trials": 2}}))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sweep", str(spec)])
    assert code == 0, err.getvalue()
    return store, out.getvalue(), err.getvalue()


def _status(capsys, *args) -> tuple[int, str, str]:
    code = main(["status", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_sweep_prints_one_line_per_trial_and_no_tune_tables(swept):
    _, out, err = swept
    lines = out.splitlines()
    trials = [line for line in lines if line.startswith("[")]
    assert len(trials) == 4, out
    assert {line[:5] for line in trials} == {"[1/4]", "[2/4]", "[3/4]", "[4/4]"}
    assert all(": ok, int8 " in line and " ms, " in line for line in trials)
    assert all("| ETA" in line for line in trials[:3]) and trials[3].endswith("| done")
    assert any("basicmotions nucleo-l552ze-q 10ms 16KB seed 0 optuna #" in t for t in trials)
    # No Tune table, experiment box or Optuna log line; the whole run on a few lines.
    text = out + err
    for noise in ("Trial status", "Configuration for experiment", "View detailed results",
                  "A new study created", "Current best trial"):
        assert noise not in text
    assert len(text.splitlines()) <= 15, text


def test_status_of_a_finished_sweep(swept, capsys):
    store, _, _ = swept
    code, out, err = _status(capsys, "--storage", str(store), "--sweep", "st", "--json")
    assert code == 0 and err == ""
    [s] = json.loads(out)["sweeps"]
    assert {k: s[k] for k in ("trials", "done", "running", "failed", "pending",
                              "infeasible_points")} == \
        {"trials": 4, "done": 4, "running": 0, "failed": 0, "pending": 0, "infeasible_points": 1}
    assert [p["point"] for p in s["points"]] == POINTS
    assert s["points"][0]["trials"] == 0 and "budget" in s["points"][0]["infeasible"]
    assert [p["done"] for p in s["points"]] == [0, 2, 2]
    assert s["last_activity"] is not None

    code, out, _ = _status(capsys, "--storage", str(store))   # every sweep, for people
    lines = out.splitlines()
    assert code == 0 and re.fullmatch(
        r"sweep st: 4 of 4 trials done, 0 running, 0 failed, 0 pending, 1 infeasible point\(s\); "
        r"last activity \d+ min ago", lines[0]), lines[0]
    assert lines[1].split() == ["grid", "point", "done", "running", "failed", "pending"]
    assert lines[2].split()[:2] == [POINTS[0], "infeasible:"]
    assert lines[3].split() == [POINTS[1], "2", "0", "0", "0"]


def test_status_mid_sweep_running_failed_and_pending(swept, tmp_path, capsys):
    """The store of a sweep still running elsewhere, made from the finished one: a trial whose
    row is not written yet is running; one Tune has not started yet is pending; a failed row
    is failed until Tune reports from its retry."""
    store = tmp_path / "store"
    shutil.copytree(swept[0], store)
    results = ResultsStore(str(store))
    rows = results.read(sweep="st", dry=True)
    trials = rows[rows["point"] == POINTS[1]].sort_values("trial_key")
    running, unstarted = trials["trial_key"].tolist()
    for key in (running, unstarted):
        row_file = next(f for f in storage.find_files(results.results_url, ".parquet")
                        if key.replace("/", "--") in f)
        Path(row_file).unlink()
    folders = {p.parent.name: p.parent for p in (store / "tune" / "st").glob("*/params.json")}
    shutil.rmtree(next(f for n, f in folders.items() if unstarted.split("/")[1] in n))

    failed = rows[rows["point"] == POINTS[2]].iloc[0].to_dict()
    failed.update(status="failed", reason="RuntimeError: out of memory",
                  finished_at=datetime.now(UTC))
    results.write(failed)
    code, out, _ = _status(capsys, "--storage", str(store), "--sweep", "st", "--json")
    [s] = json.loads(out)["sweeps"]
    assert code == 0
    assert [(p["done"], p["running"], p["failed"], p["pending"]) for p in s["points"]] == \
        [(0, 0, 0, 0), (0, 1, 0, 1), (1, 0, 1, 0)]
    assert s["points"][1]["running_stages"] == ["store"]   # its last report

    # Tune retries the failed trial from its checkpoint: a report newer than its failed row.
    folder = next(f for n, f in folders.items() if failed["trial_key"].split("/")[1] in n)
    report = {"stage": "search", "timestamp": datetime.now(UTC).timestamp() + 5}
    with open(folder / "result.json", "a") as f:
        f.write(json.dumps(report) + "\n")
    code, out, _ = _status(capsys, "--storage", str(store), "--sweep", "st")
    assert code == 0 and out.splitlines()[0].startswith(
        "sweep st: 1 of 4 trials done, 2 running, 0 failed, 1 pending")
    assert out.splitlines()[4].endswith("(running: search)")


@pytest.mark.s3
def test_status_of_a_store_on_s3(swept, s3_bucket, capsys):
    """The same store in a bucket (as a cluster's sweep writes it): the same status."""
    import s3fs
    url = f"s3://{s3_bucket}/team/sweeps"
    fs = s3fs.S3FileSystem()
    for folder in ("sweeps", "results", "tune"):
        fs.put(str(swept[0] / folder), f"{url}/{folder}", recursive=True)
    code, out, err = _status(capsys, "--storage", url, "--json")
    assert code == 0, err
    [s] = json.loads(out)["sweeps"]
    assert (s["sweep"], s["trials"], s["done"], s["running"], s["pending"]) == ("st", 4, 4, 0, 0)
    assert [p["done"] for p in s["points"]] == [0, 2, 2]
    code, _, err = _status(capsys, "--storage", f"s3://{s3_bucket}/nothing-here")
    assert code == 2 and err.startswith(f"micronas: error: s3://{s3_bucket}/nothing-here: ")


def test_status_needs_no_ray(swept):
    code = ("import sys; from orchestrator.cli import main; "
            f"assert main(['status', '--storage', {str(swept[0])!r}]) == 0; "
            "heavy = [m for m in ('ray', 'torch', 'tensorflow', 'optuna') if m in sys.modules]; "
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_bad_storage_or_sweep_is_one_line(swept, tmp_path, capsys):
    store = str(swept[0])
    cases = [(["--storage", store, "--sweep", "nope"],
              f"{store}: no sweep named 'nope' (sweeps here: st)"),
             (["--storage", str(tmp_path / "missing")],
              f"{tmp_path / 'missing'}: not found (no results store there)"),
             (["--storage", str(tmp_path)],
              f"{tmp_path}: no sweep has run in this store (no sweeps/ folder)"),
             (["--storage", "foo://bucket/x"], "foo://bucket/x: unsupported storage URL")]
    for args, message in cases:
        code, out, err = _status(capsys, *args)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, err
        assert err.startswith(f"micronas: error: {message}"), err
    bad = tmp_path / "bad"
    (bad / "sweeps" / "x").mkdir(parents=True)
    (bad / "sweeps" / "x" / "spec.json").write_text("{}")
    code, _, err = _status(capsys, "--storage", str(bad))
    assert code == 2 and err == f"micronas: error: {bad}/sweeps/x/spec.json: not a sweep's spec record\n"
