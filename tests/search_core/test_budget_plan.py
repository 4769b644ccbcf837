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


def test_a_power_budget_is_priced_by_the_given_energy_file(tmp_path, l552_latency):
    """The cap follows the currents of the file it is given: a core drawing twice the packaged
    62 uA/MHz gets half the latency for the same spare power."""
    import json

    from lut_store import EnergyModel
    from search_core.data import load_dataset

    data = load_dataset("ucihar", rate_hz=25, window=32, step=16, sensors=["acc"])
    packaged = EnergyModel.load()
    doc = {"format": "micronas-energy", "sensors": packaged.sensors,
           "mcus": {"nucleo-l552ze-q": {**packaged.mcus["nucleo-l552ze-q"], "run_ua_per_mhz": 124}}}
    path = tmp_path / "board.json"
    path.write_text(json.dumps(doc))
    default, _ = plan_budget(data, l552_latency, None, 64, power_mw=0.3)
    hungry, _ = plan_budget(data, l552_latency, None, 64, power_mw=0.3,
                            energy=EnergyModel.load(path))
    assert hungry.latency_ms == pytest.approx(default.latency_ms / 2)
    assert default.latency_ms == pytest.approx(packaged.latency_cap_ms(
        l552_latency.mcu, ["acc"], 25, 0.64, power_mw=0.3))
