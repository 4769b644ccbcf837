"""Sweeps on a real two-node Ray cluster on loopback, submitted with plain `ray job submit`, with
the results store and the LUTs in a real S3 server process; and a node failure in the middle."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _net import listening_addresses
from deploy_ray.local_cluster import LocalCluster
from orchestrator import ResultsStore

pytestmark = pytest.mark.s3

RAY = str(Path(sys.executable).with_name("ray"))
BUDGETS = [{"latency_ms": 12 + i, "memory_kb": 6} for i in range(4)]


def _spec(folder: Path, store: str, name: str, epochs: int) -> Path:
    spec = {"name": name, "storage": store, "datasets": ["basicmotions"],
            "mcus": ["nucleo-l552ze-q"], "budgets": BUDGETS, "seeds": [0],
            "search": {"epochs": epochs, "warmup_epochs": 1, "retrain_epochs": epochs,
                       "retrain_patience": epochs},
            "deploy": {"qat_epochs": 0, "calibration_windows": 32, "max_accuracy_drop": 100},
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}, "max_failures": 3}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def cluster_store(s3_bucket, l552_lut):
    url = f"s3://{s3_bucket}/cluster"
    l552_lut.write(f"{url}/lut")
    return url


def _submit(cluster, spec: Path, *extra: str, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RAY, "job", "submit", "--address", cluster.dashboard_url, "--working-dir",
         str(spec.parent), *extra, "--", "python", "-m", "deploy_ray.job", spec.name],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "RAY_AUTH_MODE": "disabled"})


def test_ray_job_submit_on_two_nodes(cluster_store, tmp_path):
    spec = _spec(tmp_path, cluster_store, "cluster", epochs=2)
    # The nodes inherit the S3 endpoint and credentials from this environment (the fixture set
    # them): nothing secret is on the job's command line.
    with LocalCluster(workers=1, cpus_per_node=1) as cluster:
        # The dashboard (and with it the job API) listens on loopback only.
        assert listening_addresses(cluster.dashboard_port) == {"127.0.0.1"}
        done = _submit(cluster, spec)
        # `micronas submit` is the same through the job SDK: it streams the logs and exits with
        # the job's status (here: a one-trial sweep under another name, in the same store).
        small = _spec(tmp_path, cluster_store, "via-micronas", epochs=1)
        doc = yaml.safe_load(small.read_text())
        small.write_text(yaml.safe_dump({**doc, "budgets": BUDGETS[:1]}))
        via = subprocess.run([sys.executable, "-m", "orchestrator.cli", "submit", str(small),
                              "--address", cluster.dashboard_url, "--working-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        # No credential in any log: every node's session logs, the job drivers' logs, what the
        # two clients printed.
        from _s3 import SECRET
        leaks = [str(f) for f in cluster.root.rglob("*") if f.is_file() and not f.is_symlink()
                 and SECRET.encode() in f.read_bytes()]
        assert not leaks, leaks
        assert SECRET not in done.stdout + done.stderr + via.stdout + via.stderr
    assert via.returncode == 0, via.stdout[-3000:] + via.stderr[-2000:]
    assert "SUCCEEDED" in via.stdout and "sweep via-micronas" in via.stdout
    assert len(ResultsStore(cluster_store).read(sweep="via-micronas")) == 1
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "succeeded" in done.stdout + done.stderr
    rows = ResultsStore(cluster_store).read(sweep="cluster")
    assert len(rows) == 4 and rows["trial_key"].is_unique
    assert set(rows["status"]) == {"ok"}
    assert rows["node_id"].nunique() == 2      # trials ran on both nodes


def test_killing_a_worker_node_mid_sweep_loses_no_row(cluster_store, tmp_path):
    spec = _spec(tmp_path, cluster_store, "killed", epochs=4)
    store = ResultsStore(cluster_store)
    with LocalCluster(workers=1, cpus_per_node=1) as cluster:
        sub = _submit(cluster, spec, "--no-wait")
        assert sub.returncode == 0, sub.stderr[-2000:]
        job = re.search(r"raysubmit_[A-Za-z0-9]+", sub.stdout + sub.stderr).group(0)
        # Wait until the worker node is running a trial (a trial worker process under its
        # raylet), then kill the node's whole process tree by PID.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if any("ImplicitFunc" in _cmdline(pid) or "run_trial" in _cmdline(pid)
                   for pid in cluster.node_pids(1)):
                break
            time.sleep(1)
        else:
            pytest.fail("no trial started on the worker node")
        time.sleep(5)                          # let it get into its search
        killed_at = pd.Timestamp.now(tz="UTC")
        killed = cluster.kill_node(1)
        assert killed
        from ray.job_submission import JobStatus, JobSubmissionClient
        client = JobSubmissionClient(cluster.dashboard_url)
        deadline = time.monotonic() + 600
        while not client.get_job_status(job).is_terminal():
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(3)
        status, logs = client.get_job_status(job), client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-4000:]
    rows = store.read(sweep="killed")
    assert len(rows) == 4 and rows["trial_key"].is_unique, rows[["trial_key", "status"]]
    assert set(rows["status"]) == {"ok"}, rows[["status", "reason"]]
    # The sweep went on without the worker: what finished after the kill ran on the one
    # surviving node, including the trial that lost its node (retried from its checkpoint).
    after = rows[rows["finished_at"] > killed_at]
    assert len(after) >= 1 and after["node_id"].nunique() == 1


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
