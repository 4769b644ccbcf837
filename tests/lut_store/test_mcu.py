import json

import pytest

from lut_store import InputError, Mcu, list_mcus, load_mcu
from lut_store._mcu import MCU_PATH_ENV

SHIPPED = {
    "nucleo-l552ze-q": ("cortex-m33", 80_000_000, 256 * 1024, 512 * 1024),
    "nucleo-f446re": ("cortex-m4f", 180_000_000, 128 * 1024, 512 * 1024),
    "nicla-sense-me": ("cortex-m4f", 64_000_000, 64 * 1024, 512 * 1024),
    "portenta-h7": ("cortex-m7", 480_000_000, 1024 * 1024, 2048 * 1024),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_boards(name):
    mcu = load_mcu(name)
    assert (mcu.core, mcu.clock_hz, mcu.sram_bytes, mcu.flash_bytes) == SHIPPED[name]
    assert mcu.name == name and name in list_mcus()


def test_cycles_to_ms_uses_the_board_clock():
    assert load_mcu("nucleo-l552ze-q").cycles_to_ms(80_000) == pytest.approx(1.0)
    assert load_mcu("nucleo-f446re").cycles_to_ms(180_000) == pytest.approx(1.0)


def test_core_family_ignores_fpu():
    assert load_mcu("nicla-sense-me").core_family == load_mcu("nucleo-f446re").core_family == "cortex-m4"


def test_user_adds_a_board_by_adding_a_file(tmp_path, monkeypatch):
    board = {"name": "my-board", "core": "cortex-m0+", "clock_hz": 48_000_000,
             "sram_bytes": 32768, "flash_bytes": 262144}
    (tmp_path / "my-board.json").write_text(json.dumps(board))
    monkeypatch.setenv(MCU_PATH_ENV, str(tmp_path))
    assert "my-board" in list_mcus()
    assert load_mcu("my-board").clock_hz == 48_000_000
    assert load_mcu(str(tmp_path / "my-board.json")).name == "my-board"


def test_two_boards_in_one_process_do_not_interfere():
    a, b = load_mcu("nucleo-l552ze-q"), load_mcu("nucleo-f446re")
    assert a.cycles_to_ms(1e6) != b.cycles_to_ms(1e6)
    assert load_mcu("nucleo-l552ze-q") == a


@pytest.mark.parametrize("content, message", [
    ("{", "not a readable JSON"),
    ("[]", "must be a JSON object"),
    ('{"name": "x", "core": "m4", "clock_hz": -5, "sram_bytes": 1, "flash_bytes": 1}', "must be positive"),
    ('{"name": "x", "core": "m4", "clock_hz": "fast", "sram_bytes": 1, "flash_bytes": 1}', "must be an integer"),
    ('{"name": "x", "core": "m4", "sram_bytes": 1, "flash_bytes": 1}', "lacks 'clock_hz'"),
])
def test_bad_board_files(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_mcu(str(path))
    assert str(path) in str(info.value)


def test_unknown_board_lists_known_ones():
    with pytest.raises(InputError, match="unknown MCU 'no-such-board'.*nucleo-f446re"):
        load_mcu("no-such-board")


def test_mcu_round_trips_through_dict():
    mcu = load_mcu("portenta-h7")
    assert Mcu.from_dict(mcu.to_dict()) == mcu
