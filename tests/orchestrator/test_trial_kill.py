"""A trial's worker process is SIGKILLed (by PID) while it retrains: Tune restarts the trial from its
last checkpoint (the finished search), so it resumes at retraining, finishes, and every trial has
exactly one row. Real local Ray, real data (BasicMotions), a local store."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from orchestrator import ResultsStore


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        nxt = [p for p, parent in parents.items() if parent in frontier]
        found += nxt
        frontier = nxt
    return found


def _trial_workers(driver: int) -> list[int]:
    """The Ray worker processes running a Tune trial (their title is the trainable's)."""
    out = []
    for pid in _children(driver):
        try:
            title = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::ImplicitFunc"):
            out.append(pid)
    return out


def test_killed_trial_worker_resumes_from_its_checkpoint(tmp_path, lut_folder):
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "kill", "storage": str(store), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 12}, {"latency_ms": 13}],
        # Retraining long enough (seconds) to be killed in the middle of it.
        "search": {"epochs": 3, "warmup_epochs": 1, "retrain_epochs": 600}, "deploy": False,
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 1}, "max_failures": 2}))

    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(spec),
                               "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None:
            assert driver.poll() is None and time.monotonic() < deadline, "no search checkpoint"
            searched = list((store / "tune" / "kill").glob("*/checkpoint_*"))
            workers = _trial_workers(driver.pid)
            if searched and len(workers) == 1 and not ResultsStore(str(store)).read().shape[0]:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)       # the first trial, retraining
            time.sleep(0.1)
        _, err = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 0, err[-2000:]
    assert not Path(f"/proc/{killed}").exists()

    rows = ResultsStore(str(store)).read()
    finished = int((rows["status"] == "ok").sum())
    resumed = rows[rows["resumed_from"] != ""]
    print(f"\nworker {killed} killed: {finished} trials finished, {len(resumed)} resumed "
          f"(at {list(resumed['resumed_from'])}), {2 - finished} lost")
    assert len(rows) == 2 and rows["trial_key"].is_unique and finished == 2
    assert list(resumed["resumed_from"]) == ["retrain"]   # not searched again
