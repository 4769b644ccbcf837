"""Where a search trains: "auto" (CUDA when torch sees a GPU, else the CPU), "cpu", "cuda" or
"cuda:N". One owner of that choice and of its error, for the search, retraining and the shared
supernet. On the CPU nothing moves and runs stay bit-repeatable; on a GPU the data move to it
once per stage, random draws stay on the CPU's seeded generators (so a GPU run draws the same
batches and samples as a CPU run) and the figures differ only by the GPU's arithmetic."""

from __future__ import annotations

from lut_store import InputError

DEVICES = ("auto", "cpu", "cuda")


def check_device(name: str) -> str:
    """Validate the spelling only (no torch import: configs are built where torch may not be)."""
    if not isinstance(name, str) or not (name in DEVICES or
                                         (name.startswith("cuda:") and name[5:].isdigit())):
        raise InputError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return name


def resolve_device(name: str):
    """The torch.device for `name`; an unavailable CUDA device is one clear line."""
    import torch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = ("this torch is a CPU-only build" if torch.version.cuda is None
               else "no CUDA device is visible")
        raise InputError(f"device {name}: {why} (torch {torch.__version__}); use device auto or cpu")
    index = int(name[5:]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise InputError(f"device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device(name)
