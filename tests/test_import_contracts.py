"""The architecture's import rules (pyproject.toml's [tool.importlinter] contracts), checked with
import-linter on the real tree — and shown to fail on a copy of the tree with deliberate
violations, so that a contract that could never break would be noticed."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lut_store", "search_core", "orchestrator", "deploy_ray")
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed "
                                "(it is in the test extra: pip install -e '.[test]')")


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_contract():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "4 kept, 0 broken" in run.stdout


def test_deliberate_violations_break_their_contracts(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "firmware", "*.json"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "search_core" / "violations.py").write_text(
        "from lut_store._storage import filesystem   # a private module of another package\n"
        "from orchestrator import Sweep              # an upward import\n"
        "import ray                                  # Ray in search_core\n")
    (tmp_path / "lut_store" / "violation.py").write_text("import torch\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "0 kept, 4 broken" in run.stdout, run.stdout[-3000:]
    for culprit in ("search_core.violations -> lut_store._storage",
                    "search_core.violations -> orchestrator", "lut_store.violation -> torch"):
        assert culprit in run.stdout
