"""The README's "Python API" section runs as it stands: its code blocks, in order, in one
namespace, from a checkout-like folder (the shared measurements beside it)."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _section_code() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Python API\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else None]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_has_the_four_uses():
    code = "\n".join(_section_code())
    for name in ("run_search(", "Sweep(", "ResultsStore(", "ParetoFront.from_store("):
        assert name in code
    # Public names only: no underscore module is imported.
    assert not re.search(r"from \w+(\.\w+)*\._\w+ import|import \w+\._", code)


@pytest.mark.skipif(not (SHARED / "mcu-measurements").is_dir(), reason="needs ../shared")
def test_the_section_runs(tmp_path, monkeypatch, capsys):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    namespace: dict = {}
    for block in _section_code():
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["outcome"].deployment.report["status"] == "passed"
    rows = namespace["rows"]
    assert len(rows) == 2 and set(rows["status"]) == {"ok"}
    assert len(namespace["front"].front) >= 1
    assert (checkout / "runs" / "api" / "one" / "result.json").exists()
    assert os.listdir(checkout / "runs" / "api" / "store" / "results")
