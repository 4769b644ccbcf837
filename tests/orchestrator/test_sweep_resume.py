"""The sweep's driver dies mid-sweep (SIGKILL): `micronas sweep --resume` finishes the rest, runs
no finished trial again, and every trial has exactly one row."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from orchestrator import ResultsStore
from orchestrator.cli import main


def test_killed_driver_then_resume(tmp_path, lut_folder, capsys):
    import shutil
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "resume", "storage": str(store), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 12 + i} for i in range(4)],
        "search": {"epochs": 2, "warmup_epochs": 1, "retrain_epochs": 2},
        "deploy": False, "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 1}}))

    assert main(["sweep", str(spec), "--resume", "--check"]) == 2   # nothing to resume yet
    assert "nothing to resume" in capsys.readouterr().err

    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(spec),
                               "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    results = ResultsStore(str(store))
    try:
        deadline = time.monotonic() + 300
        while len(results.read()) < 2:                 # two trials finished...
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)          # ... then the driver dies, with its Ray
        driver.wait(30)
    before = results.read().set_index("trial_key")["finished_at"]
    assert 2 <= len(before) < 4

    assert main(["sweep", str(spec), "--resume", "--quiet"]) == 0
    after = results.read()
    assert len(after) == 4 and after["trial_key"].is_unique
    assert set(after["status"]) == {"ok"}
    kept = after.set_index("trial_key").loc[before.index, "finished_at"]
    assert (kept == before).all()                        # finished trials were not re-run
