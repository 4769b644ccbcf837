"""pyproject.toml owns every version pin: code reads them (search_core._versions), and files that
must hold literal versions hold exactly pyproject's."""

import re
import tomllib
from pathlib import Path

from search_core._versions import pin, pins, pip_install

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NO_DEPS = PYPROJECT["tool"]["micronas"]["no-deps"]


def test_pins_are_pyprojects():
    exact = [r for r in PYPROJECT["project"]["dependencies"] if "==" in r]
    assert exact and all(pins()[re.split(r"[\[=]", r)[0].lower()] == r.split("==")[1]
                         for r in exact)
    for req in NO_DEPS:
        assert pin(req.split("==")[0]) == req
    assert pip_install("ray") == f"pip install ray=={pins()['ray']}"


def test_the_makefile_installs_pyprojects_no_deps_pins():
    line = next(l for l in (ROOT / "Makefile").read_text().splitlines() if "--no-deps" in l)
    assert line.split("--no-deps", 1)[1].split() == NO_DEPS


def test_no_version_literal_outside_pyproject():
    """A pinned `name==version` written anywhere else would drift from pyproject.toml (the
    config files the tests check line by line are the exceptions)."""
    checked = {"Makefile"}
    pattern = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*==\d[\w.]*")
    found = []
    for folder in ("lut_store", "search_core", "orchestrator", "deploy_ray", "examples", "bench"):
        for path in (ROOT / folder).rglob("*"):
            rel = str(path.relative_to(ROOT))
            if path.suffix in (".py", ".yaml", ".yml", ".txt", ".toml") and rel not in checked:
                found += [f"{rel}: {m}" for m in pattern.findall(path.read_text(errors="ignore"))]
    assert found == []
