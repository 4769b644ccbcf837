"""RAM of the exported model on the board: the offline memory plan that reaches the lower bound
under the board's CMSIS-NN kernels, and the arena head TFLM reserves there (`lut_store.memory`,
the same model that priced the search)."""

from __future__ import annotations

from lut_store import InputError
from lut_store.memory import CMSIS_NN, arena_head_bytes
from lut_store.tflite import read_model


def board_arena_head_bytes(data: bytes, source: str = "<model>") -> int:
    """The arena head TFLM + CMSIS-NN reserves on the board for `data` (honouring its offline
    plan): TFLM's planner with the scratch buffers the board's kernels request in Prepare."""
    model = read_model(data, source)
    if model.num_subgraphs != 1:
        raise InputError(f"{source}: {model.num_subgraphs} subgraphs; MicroNAS models have one")
    return arena_head_bytes(model, kernels=CMSIS_NN)
