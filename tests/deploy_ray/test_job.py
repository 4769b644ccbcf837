"""The job's exit status: what `ray job submit` and a RayJob report as the sweep's outcome."""

import subprocess
import sys
from pathlib import Path

import pytest

from deploy_ray.job import FAILED_STATUSES, exit_code

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("counts, code", [
    ({"ok": 4}, 0),
    ({"ok": 3, "infeasible": 1}, 0),          # no network meets that budget: a recorded outcome
    ({"over_budget": 2, "ok": 1}, 0),         # a DARTS network over budget: the baseline's result
    ({}, 0),
    ({"ok": 3, "failed": 1}, 1),
    ({"ok": 3, "deploy_failed": 1}, 1),       # the int8 model missed a deployment gate
    ({"deploy_failed": 0, "ok": 1}, 0),
])
def test_exit_code_from_trial_statuses(counts, code):
    assert exit_code(counts) == code


def test_every_failed_status_is_a_status_of_the_store():
    from orchestrator._store import STATUSES
    assert set(FAILED_STATUSES) < set(STATUSES)


def test_bad_spec_exits_2_with_one_line(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\ndatasets: [ucihar]\nmcus: [no-such-board]\nbudgets: {latency_ms: [5]}\n"
                    "colour: blue\n")
    done = subprocess.run([sys.executable, "-m", "deploy_ray.job", str(spec),
                           "--storage", str(tmp_path / "store")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "unknown key colour" in done.stderr
