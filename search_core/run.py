"""`RunFolder`: the one owner of a search's run folder — what `micronas search --out` writes, what
`micronas export` / `verify` and a sweep trial read, and what a trial hands to Ray Tune as its
checkpoint.

    derivation.json     the search stage's checkpoint (architecture + how it was derived)
    architecture.json   ┐
    weights.pt          │ the finished search, committed together (lut_store.storage.write_folder):
    result.json         │ run.json, written last and removed first, lists each file's SHA-256
    run.json            ┘
    model.tflite, model_data.c, model_data.h, model.json
                        the deployment bundle (model.json is its marker, see deploy/_bundle.py)
    export.json         the quick post-training export (`search_core.deploy.export_run`)
    state.json          a sweep trial's bookkeeping (stages done, timings), never an artifact

A folder is a finished search when run.json exists and every file matches it. A folder written
before run.json existed (result.json, architecture.json and weights.pt, no run.json) is read as
finished too, with result.json as its marker: the writer of those versions moved result.json in
last, and the present writer removes result.json before it replaces anything and moves it in
last, so a folder without run.json but with result.json never holds files of two runs (a legacy
folder whose write was interrupted in between can: that is the one case this cannot detect).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lut_store import InputError
from lut_store.storage import read_folder, write_file, write_folder

from .architecture import Architecture

__all__ = ["RunFolder"]

RUN_FORMAT, RUN_VERSION = "micronas-run", 1


class RunFolder:
    """A search's run folder on the local disk (see the module's docstring for the layout)."""

    DERIVATION = "derivation.json"
    ARCHITECTURE = "architecture.json"
    WEIGHTS = "weights.pt"
    RESULT = "result.json"
    MARKER = "run.json"
    EXPORT = "export.json"
    STATE = "state.json"
    # The finished search, in the order they are moved in (result.json last: see the docstring).
    RUN_FILES = (ARCHITECTURE, WEIGHTS, RESULT)
    # Files that are bookkeeping, not artifacts (a trial does not copy them to the store).
    INTERNAL = frozenset({STATE})

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def layout(cls) -> tuple[str, ...]:
        """Every file name a run folder may hold."""
        from .deploy import BUNDLE_FILES
        return (cls.DERIVATION, *cls.RUN_FILES, cls.MARKER, *BUNDLE_FILES, cls.EXPORT, cls.STATE)

    # --- writing ---------------------------------------------------------------------------
    def check_writable(self) -> None:
        """InputError unless the folder is new, empty, holds an earlier result, or nothing but a
        run folder's files (an interrupted run): a new run replaces the run's files there."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a folder")
        known = set(self.layout())
        foreign = [p.name for p in self.path.iterdir()
                   if p.name not in known and not p.name.startswith(".")]
        if foreign and not any((self.path / n).is_file() for n in (self.RESULT, self.MARKER)):
            raise InputError(f"{self.path}: exists and is not empty (and holds no earlier result: "
                             f"{', '.join(sorted(foreign)[:3])})")

    def write_derivation(self, derivation) -> None:
        write_file(self.path / self.DERIVATION, derivation.to_json().encode())

    def write(self, arch: Architecture, network, result: dict) -> None:
        """Commit a finished search: architecture.json, weights.pt, result.json, then run.json.
        All or nothing, on overwrite too; the bundle and export of an earlier run in the folder go
        with it (they were made from the old weights)."""
        import torch

        from .deploy import BUNDLE_FILES
        from .records import jsonable

        state = network.state_dict()
        files = {
            self.ARCHITECTURE: (arch.to_json() + "\n").encode(),
            self.WEIGHTS: lambda fh: torch.save(state, fh),
            self.RESULT: (json.dumps(result, indent=2, default=jsonable) + "\n").encode(),
        }
        manifest = lambda digests: (json.dumps(
            {"format": RUN_FORMAT, "version": RUN_VERSION, "files": digests}, indent=2) + "\n").encode()
        write_folder(self.path, files, marker=self.MARKER, manifest=manifest,
                     stale=(*BUNDLE_FILES, self.EXPORT))

    def write_state(self, state: dict) -> None:
        write_file(self.path / self.STATE, json.dumps(state).encode())

    # --- reading ---------------------------------------------------------------------------
    def derivation(self):
        """The search stage's checkpoint."""
        from .records import Derivation
        return Derivation.from_json((self.path / self.DERIVATION).read_text())

    def state(self) -> dict | None:
        try:
            return json.loads((self.path / self.STATE).read_text())
        except (OSError, ValueError):
            return None

    def result_document(self) -> dict | None:
        """result.json as it is (None if there is none yet): for progress figures, not checked."""
        path = self.path / self.RESULT
        return json.loads(path.read_text()) if path.is_file() else None

    def deployment(self):
        """The bundle's report (model.json) as a `DeploymentReport`, or None."""
        from .deploy import BUNDLE_MANIFEST as MANIFEST
        from .records import DeploymentReport
        path = self.path / MANIFEST
        return DeploymentReport.from_report(json.loads(path.read_text())) if path.is_file() else None

    def _check(self, need_result: bool) -> None:
        doc = read_folder(self.path, self.MARKER, what="run folder (files of two runs)")
        names = self.RUN_FILES if need_result else self.RUN_FILES[:2]
        if doc is not None:
            missing = [n for n in names if n not in doc["files"]]
        else:   # before run.json existed (see the docstring), or an interrupted write
            missing = [n for n in names if not (self.path / n).is_file()]
        if missing:
            raise InputError(f"{self.path}: not a finished search ({' and '.join(missing)} missing; "
                             f"{', '.join(names)} needed)")

    def result(self) -> dict:
        """result.json of the finished search, checked for what the later stages read."""
        self._check(need_result=True)
        return self._result()

    def _result(self) -> dict:
        path = self.path / self.RESULT
        try:
            result = json.loads(path.read_text())
            if not isinstance(result, dict):
                raise ValueError("not a JSON object")
            for key in ("data_source", "seed", "mcu"):
                if key not in result:
                    raise ValueError(f"no {key!r}")
        except (OSError, ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise InputError(f"{path}: not the result of a finished search ({reason})") from None
        return result

    def seed(self) -> int | None:
        """The seed of the finished search (it also seeds its data split), None if unreadable
        (`read` names the problem)."""
        try:
            return int(self._result()["seed"])
        except (InputError, TypeError, ValueError):
            return None

    def data_source(self) -> str | None:
        """The data set name or file of the finished search, None if unreadable."""
        try:
            return self._result()["data_source"]
        except InputError:
            return None

    def read(self, *, need_result: bool = True) -> tuple[Architecture, Any, dict | None]:
        """(architecture, float network, result.json or None) of the finished search; InputError
        (one line) for a folder that is not one, a torn one, or files that do not belong together."""
        import torch

        from .supernet import Network

        self._check(need_result)
        arch_file, weights = self.path / self.ARCHITECTURE, self.path / self.WEIGHTS
        arch = Architecture.from_json(arch_file.read_bytes(), source=str(arch_file))
        result = self._result() if need_result else None
        network = Network(arch)
        try:  # weights_only: a state dict of tensors, never arbitrary pickled objects
            network.load_state_dict(torch.load(weights, weights_only=True))
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{weights}: not the weights of {arch_file.name} ({str(exc)[:120]})") from None
        network.eval()
        return arch, network, result
