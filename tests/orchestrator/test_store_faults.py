"""A local store on a full disk or in a folder the user may not write: one clear line, exit 2 on the
CLI, and nothing corrupted — earlier rows stay readable, no half-written file is left behind, and
the same write succeeds once there is room again.

The full disk is a real 1 MiB tmpfs. For "permission denied" the store is read-only (mode 0555) and
the CLI runs without the capabilities that let root ignore file modes (the tests run as root)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lut_store import InputError
from orchestrator import ResultsStore

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_ROOT_OVERRIDES = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                          "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system; refuses to run without one rather than pretending."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"cannot mount a tmpfs for the disk-full test: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system holding `folder` to the last byte."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 1):          # big blocks, then the last bytes one by one
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return ballast


def _row(i: int) -> dict:
    return {"trial_key": f"faults/t{i}", "sweep": "faults", "dataset": "ucihar",
            "mcu": "nucleo-l552ze-q", "method": "micronas", "status": "ok",
            "lat_budget_ms": 25.0, "test_accuracy": 0.9 + i / 100}


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_full_disk_refuses_one_row_and_keeps_the_others(small_disk):
    store = ResultsStore(str(small_disk / "store"))
    store.write(_row(1))
    before = _files(small_disk)
    ballast = _fill(small_disk)

    with pytest.raises(InputError, match="no space left on the device") as info:
        store.write(_row(2))
    assert "\n" not in str(info.value)
    assert _files(small_disk) - before == {"ballast"}        # no temporary or partial file
    rows = store.read()
    assert list(rows["trial_key"]) == ["faults/t1"] and rows["test_accuracy"][0] == pytest.approx(0.91)

    ballast.unlink()                                         # room again: the same write works
    store.write(_row(2))
    assert sorted(store.read()["trial_key"]) == ["faults/t1", "faults/t2"]


def _spec(tmp_path: Path, storage: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "faults", "storage": str(storage), "datasets": ["basicmotions"],
        "mcus": ["nucleo-l552ze-q"], "budgets": {"latency_ms": [12]}, "deploy": False}))
    spec.chmod(0o644)
    return spec


def _cli(args: list[str], prefix: tuple = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, "-m", "orchestrator.cli", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_sweep_on_a_full_disk_is_refused_before_any_trial(tmp_path, small_disk, lut_folder):
    store = small_disk / "store"
    shutil.copytree(lut_folder, store / "lut")
    before = _files(small_disk)
    _fill(small_disk)
    done = _cli(["sweep", str(_spec(tmp_path, store)), "--check"])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on the device" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert _files(small_disk) - before == {"ballast"}


def test_store_the_user_may_not_write_is_refused(tmp_path, lut_folder):
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    for path in [store, *store.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)       # read-only for everybody
    before = _files(store)
    spec = _spec(tmp_path, store)

    done = _cli(["sweep", str(spec), "--check"], WITHOUT_ROOT_OVERRIDES)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "permission denied" in lines[0] and str(store) in lines[0], done.stderr

    out = store / "results.csv"
    done = _cli(["results", "--storage", str(store), "--out", str(out), "--all"],
                WITHOUT_ROOT_OVERRIDES)
    assert done.returncode == 2 and "permission denied" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert _files(store) == before                            # nothing written, nothing removed
