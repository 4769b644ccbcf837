"""search_core.RunFolder: the one owner of a run folder. A writer SIGKILLed between two file
writes of an overwrite leaves a folder that readers refuse (never new weights beside the old
result), and running the write again leaves a consistent folder; a folder written before run.json
existed is still read."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lut_store import InputError
from search_core import RunFolder
from search_core.architecture import Architecture, SfCell, TrCell

ROOT = Path(__file__).resolve().parents[2]
ARCH = Architecture(100, 6, 4, (TrCell(3, 8), TrCell(5, 4)), (
    SfCell(True, 8, (True, False, True), 8, True), SfCell(False, 8, (True, False, False), 8, False),
    SfCell(False, 8, (False, False, False), 8, True)))

# The child writes the run of `tag` (weights from torch.manual_seed(seed)) over the folder; with
# kill "replace:N" it SIGKILLs itself at its N-th os.replace, i.e. between two file writes
# ("unlink:1": once the new files are staged, before the first old one is removed).
CHILD = r"""
import os, signal, sys
import torch
from lut_store import _atomic
from search_core import RunFolder
from search_core.supernet import Network
from search_core.architecture import Architecture
folder, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
call, _, kill_at = sys.argv[4].partition(":")
arch = Architecture.from_json(open(sys.argv[5]).read())
torch.manual_seed(seed)
network = Network(arch)
real, calls = getattr(os, call), []
def killing(*args):
    calls.append(args)
    if len(calls) == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
setattr(_atomic.os, call, killing)
result = {"tag": tag, "seed": seed, "data_source": "basicmotions", "mcu": "nucleo-l552ze-q"}
RunFolder(folder).write(arch, network, result)
"""


def _write(folder: Path, tag: str, seed: int, kill: str = "replace:0") -> int:
    arch_file = folder.parent / "arch.json"
    arch_file.write_text(ARCH.to_json())
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), tag, str(seed), kill,
                           str(arch_file)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc.returncode


def _weights(seed: int) -> dict:
    from search_core.supernet import Network
    torch.manual_seed(seed)
    return Network(ARCH).state_dict()


def _same(network, seed: int) -> bool:
    want = _weights(seed)
    return all(torch.equal(v, want[k]) for k, v in network.state_dict().items())


# os.replace calls of a run commit: architecture.json, weights.pt, result.json, then run.json.
@pytest.mark.parametrize("kill_at", [1, 2, 3, 4])
def test_writer_killed_between_two_writes_of_an_overwrite(tmp_path, kill_at):
    run = tmp_path / "run"
    assert _write(run, "old", 1) == 0
    _, network, result = RunFolder(run).read()
    assert result["tag"] == "old" and _same(network, 1)

    assert _write(run, "new", 2, f"replace:{kill_at}") == -signal.SIGKILL
    folder = RunFolder(run)
    if kill_at < 4:   # result.json not yet moved in: not a finished search, for every reader
        with pytest.raises(InputError, match="not a finished search"):
            folder.read()
        with pytest.raises(InputError, match="not a finished search"):
            folder.result()
    else:             # every file new, only run.json missing: read as a finished (legacy) folder
        _, network, result = folder.read()
        assert result["tag"] == "new" and _same(network, 2)
    if (run / "result.json").exists():   # never the old result beside the new weights
        assert json.loads((run / "result.json").read_text())["tag"] == "new"
    assert not any(p.name == "run.json" for p in run.iterdir())

    assert _write(run, "new", 2) == 0    # the write again repairs the folder
    _, network, result = RunFolder(run).read()
    assert result["tag"] == "new" and _same(network, 2)
    assert sorted(p.name for p in run.iterdir()) == ["architecture.json", "result.json",
                                                     "run.json", "weights.pt"]


def test_writer_killed_before_it_removes_anything_leaves_the_old_run(tmp_path):
    run = tmp_path / "run"
    assert _write(run, "old", 1) == 0
    assert _write(run, "new", 2, "unlink:1") == -signal.SIGKILL
    _, network, result = RunFolder(run).read()
    assert result["tag"] == "old" and _same(network, 1)
    assert _write(run, "new", 2) == 0      # and the next write removes what the killed one left
    assert sorted(p.name for p in run.iterdir()) == ["architecture.json", "result.json",
                                                     "run.json", "weights.pt"]


def _legacy(folder: Path, seed: int = 1) -> Path:
    """A run folder as micronas wrote it before run.json existed."""
    folder.mkdir()
    (folder / "architecture.json").write_text(ARCH.to_json() + "\n")
    torch.save(_weights(seed), folder / "weights.pt")
    (folder / "result.json").write_text(json.dumps(
        {"seed": 4, "data_source": "basicmotions", "mcu": "nucleo-l552ze-q"}))
    return folder


def test_a_folder_from_before_run_json_is_still_read(tmp_path):
    folder = RunFolder(_legacy(tmp_path / "old"))
    arch, network, result = folder.read()
    assert arch == ARCH and _same(network, 1) and result["seed"] == 4
    assert folder.seed() == 4 and folder.data_source() == "basicmotions"


def test_files_from_two_runs_are_refused(tmp_path):
    from search_core.supernet import Network

    run = tmp_path / "run"
    torch.manual_seed(1)
    RunFolder(run).write(ARCH, Network(ARCH), {"seed": 0, "data_source": "x", "mcu": "y"})
    torch.save(_weights(2), run / "weights.pt")        # copied in from another run
    with pytest.raises(InputError, match="weights.pt does not match run.json"):
        RunFolder(run).read()


def test_a_new_run_replaces_the_old_bundle_and_foreign_folders_are_refused(tmp_path):
    from search_core.supernet import Network

    run = _legacy(tmp_path / "run")
    for name in ("model.tflite", "model.json", "export.json"):
        (run / name).write_text("from the old weights")
    RunFolder(run).check_writable()
    RunFolder(run).write(ARCH, Network(ARCH), {"seed": 0, "data_source": "x", "mcu": "y"})
    assert sorted(p.name for p in run.iterdir()) == ["architecture.json", "result.json",
                                                     "run.json", "weights.pt"]
    (run / "notes.txt").write_text("mine")
    RunFolder(run).check_writable()            # an earlier result: replaced, notes kept
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    RunFolder(tmp_path / "fresh").check_writable()
    with pytest.raises(InputError, match="not empty"):
        RunFolder(tmp_path / "other").check_writable()
    (tmp_path / "interrupted").mkdir()
    (tmp_path / "interrupted" / "architecture.json").write_text("{}")
    RunFolder(tmp_path / "interrupted").check_writable()


def test_seed_of_a_folder_that_is_not_a_run(tmp_path):
    assert RunFolder(tmp_path).seed() is None
    (tmp_path / "result.json").write_text('{"seed": "x", "data_source": "d", "mcu": "m"}')
    assert RunFolder(tmp_path).seed() is None
    assert RunFolder(tmp_path).data_source() == "d"
    os.remove(tmp_path / "result.json")
