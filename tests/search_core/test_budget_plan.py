"""plan_budget: a memory budget covers the arena and the firmware's sensing ring together, and
a power budget that the data file cannot price is refused before any training."""

import pytest

from lut_store import InputError
from lut_store.memory import input_buffer_bytes
from search_core import plan_budget
from search_core.hardware import CostModel
from search_core.space import SearchSpace
from tests._synthetic import tiny_dataset


def test_the_memory_budget_covers_the_arena_and_the_input_buffer(l552_latency):
    data = tiny_dataset(t=32)
    ring = input_buffer_bytes(32, 6)
    assert ring == 192
    floor = CostModel(l552_latency).cheapest(SearchSpace(32, 6, 3)).memory_bytes
    budget, _ = plan_budget(data, l552_latency, None, (floor + ring) / 1024)
    assert budget.memory_bytes == floor and budget.input_buffer_bytes == ring
    # One byte less: the cheapest network's arena still fits, arena + ring does not.
    with pytest.raises(InputError, match=r"\+ the 0.19 KB input buffer"):
        plan_budget(data, l552_latency, None, (floor + ring - 1) / 1024)


@pytest.mark.parametrize("power, message", [
    (-1.0, "power budget must be a positive number"),
    (1.0, "needs the front end's window step"),   # windows that do not say how often they come
])
def test_a_power_budget_that_cannot_be_priced_is_refused(l552_latency, power, message):
    with pytest.raises(InputError, match=message):
        plan_budget(tiny_dataset(), l552_latency, 25, 64, power_mw=power)
