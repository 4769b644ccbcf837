"""lut_store.target: the TFLM + CMSIS-NN runner firmware on QEMU's Cortex-M4F and Cortex-M33.

The on-target tests need the Arm cross toolchain and qemu-system-arm (`make toolchain`) and the TFLM
tree in ../shared/tflm/tree; without them they are skipped with the reason. The TFLM library is
compiled once per core into the user cache ($MICRONAS_CACHE/tflm, default ~/.cache/micronas/tflm):
the first run builds it (minutes), later runs only build the runner (seconds per core).
"""

from __future__ import annotations

import shutil
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest

from lut_store import InputError
from lut_store.memory import CMSIS_NN, arena_head_bytes
from lut_store.target import (
    TARGETS,
    ProtocolError,
    check_model,
    parse_line,
    parse_lines,
    random_windows,
    run_model,
)
from lut_store.tflite import BUILTIN_OPERATORS, read_model

from _target import CORES, TFLM_TREE, needs_target  # noqa: E402


@pytest.fixture(scope="module")
def model() -> bytes:
    """A small MicroNAS-style int8 model: CONV_2D (k,1) stride (2,1) 'same', a (1,W) 'valid'
    bottleneck, two branches summed with ADD, MEAN, FULLY_CONNECTED, SOFTMAX."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    import _tf_models

    spec = next(s for s in _tf_models.MODEL_SPECS if s.name == "small_input")
    return _tf_models.build_tflite(spec)


def _host_reference(data: bytes, windows: np.ndarray) -> tuple[np.ndarray, dict]:
    """Outputs of TFLM's Python interpreter (reference kernels) and its arena figures."""
    runtime = pytest.importorskip("tflite_micro").runtime
    from lut_store.tflm import tflm_arena

    interpreter = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    out = []
    for window in windows:
        interpreter.set_input(window, 0)
        interpreter.invoke()
        out.append(np.array(interpreter.get_output(0), copy=True))
    return np.stack(out), tflm_arena(data)


# --- on the emulated cores ----------------------------------------------------------------------

@needs_target
@pytest.mark.parametrize("target", CORES)
def test_runner_matches_the_host_interpreter_and_reports_the_arena(model, target, tmp_path):
    windows = random_windows(model, 6, seed=3)
    run = run_model(model, windows, target, tflm=TFLM_TREE, keep=tmp_path / "build")
    reference, host_arena = _host_reference(model, windows)

    assert run.outputs.shape == reference.shape and run.outputs.dtype == np.int8
    assert np.abs(run.outputs.astype(int) - reference.astype(int)).max() <= 1

    arena = run.arena
    assert arena["total"] == arena["head"] + arena["tail"]
    assert 0 < arena["head"] < arena["available"] and 0 < arena["tail"]
    # Same planner, same activations; CMSIS-NN's im2col scratch can only add to the head. The
    # 32-bit tail is smaller than the host's (4-byte pointers, no recording allocator).
    assert arena["head"] >= host_arena["head"]
    assert arena["tail"] < host_arena["tail"]
    # ... and the memory model's figure for the board's kernels is what the firmware measures.
    assert arena["head"] == arena_head_bytes(model, kernels=CMSIS_NN)
    # The conv kernels asked CMSIS-NN for their scratch (traced in the firmware).
    ops = read_model(model).operators
    assert {s["op"] for s in run.scratch} >= {"CONV_2D", "MEAN"}
    assert all(ops[s["node"]].op == s["op"] for s in run.scratch)

    flash = run.flash
    assert flash["total"] == flash["model"] + flash["windows"] + flash["runtime"]
    assert flash["model"] == len(model) and flash["runtime"] > 20_000

    # Emulator ticks: one per window and op, named as such, repeatable under -icount shift=0.
    assert run.emulator_ticks.shape == (6,) and (run.emulator_ticks > 0).all()
    assert run.op_emulator_ticks.shape == (6, len(ops))
    assert run.op_names == tuple(op.op for op in ops)
    assert "SysTick" in run.timer and "QEMU" in run.timer and run.timer_hz > 0
    summary = run.summary()
    assert "emulator_ticks" in summary and "cycles" not in str(sorted(summary))
    assert (tmp_path / "build" / "mn_ops.cc").read_text().count("resolver.Add") == len(
        {op.op for op in ops})


@needs_target
def test_a_model_whose_arena_does_not_fit_the_ram_is_reported_as_such(model):
    small = replace(TARGETS["qemu-m4"], name="qemu-m4-12k", ram_bytes=12 * 1024,
                    stack_bytes=4 * 1024)
    with pytest.raises(InputError, match="does not fit qemu-m4-12k's RAM") as err:
        run_model(model, None, small, tflm=TFLM_TREE, windows=1, timeout=60)
    assert "\n" not in str(err.value) and "TFLM says" in str(err.value)


@needs_target
def test_inputs_that_do_not_fit_the_model_are_refused(model):
    with pytest.raises(InputError, match="do not fit the model input"):
        run_model(model, np.zeros((2, 5), np.int8), "qemu-m4", tflm=TFLM_TREE)
    with pytest.raises(InputError, match="must be int8"):
        run_model(model, np.zeros((2, 32, 6, 1), np.float32), "qemu-m4", tflm=TFLM_TREE)


# --- one-line refusals, before anything is built ------------------------------------------------

def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_missing_tflm_tree_names_the_setting(model, monkeypatch, tmp_path):
    with pytest.raises(InputError) as err:
        run_model(model, None, "qemu-m4", tflm=tmp_path / "no-such-tree")
    assert "--tflm" in _one_line(err) and "MICRONAS_TFLM" in str(err.value)
    monkeypatch.delenv("MICRONAS_TFLM", raising=False)
    with pytest.raises(InputError) as err:
        run_model(model, None, "qemu-m33")
    assert "no TFLite-Micro tree given" in _one_line(err)


@pytest.mark.skipif(not TFLM_TREE.is_dir(), reason=f"no TFLM tree at {TFLM_TREE}")
def test_missing_toolchain_names_the_debian_packages(model, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(InputError) as err:
        run_model(model, None, "qemu-m4", tflm=TFLM_TREE, cache=tmp_path)
    assert "arm-none-eabi-gcc" in _one_line(err) and "gcc-arm-none-eabi" in str(err.value)
    assert not any(tmp_path.iterdir())                 # nothing built, nothing written

    if shutil.which("arm-none-eabi-gcc", path=_system_path()) is None:
        return
    only_gcc = tmp_path / "bin"                        # the cross toolchain but no QEMU
    only_gcc.mkdir()
    for tool in ("gcc", "g++", "ar", "size"):
        (only_gcc / f"arm-none-eabi-{tool}").symlink_to(
            shutil.which(f"arm-none-eabi-{tool}", path=_system_path()))
    monkeypatch.setenv("PATH", str(only_gcc))
    with pytest.raises(InputError) as err:
        run_model(model, None, "qemu-m4", tflm=TFLM_TREE, cache=tmp_path / "cache")
    assert "qemu-system-arm" in _one_line(err) and "apt-get install qemu-system-arm" in str(err.value)


def _system_path() -> str:
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _with_opcode(data: bytes, old: str, new: str) -> bytes:
    """`data` with every operator code `old` changed to `new` (both the int8 deprecated field and
    the int32 builtin_code are rewritten in place)."""
    buf = bytearray(data)

    def table(pos):
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        return vt, struct.unpack_from("<H", buf, vt)[0]

    def field(pos, vt, vt_size, fid):
        entry = 4 + 2 * fid
        rel = struct.unpack_from("<H", buf, vt + entry)[0] if entry + 2 <= vt_size else 0
        return pos + rel if rel else None

    root = struct.unpack_from("<I", buf, 0)[0]
    vt, size = table(root)
    codes = field(root, vt, size, 1)
    vec = codes + struct.unpack_from("<I", buf, codes)[0]
    old_code, new_code = BUILTIN_OPERATORS.index(old), BUILTIN_OPERATORS.index(new)
    changed = 0
    for i in range(struct.unpack_from("<I", buf, vec)[0]):
        at = vec + 4 + 4 * i
        t = at + struct.unpack_from("<I", buf, at)[0]
        tvt, tsize = table(t)
        deprecated, builtin = field(t, tvt, tsize, 0), field(t, tvt, tsize, 3)
        code = (struct.unpack_from("<i", buf, builtin)[0] if builtin
                else buf[deprecated] if deprecated else 0)         # absent: the default, ADD
        if code == old_code:
            if deprecated:
                struct.pack_into("<b", buf, deprecated, min(new_code, 127))
            if builtin:
                struct.pack_into("<i", buf, builtin, new_code)
            changed += 1
    assert changed
    return bytes(buf)


@pytest.mark.skipif(not TFLM_TREE.is_dir(), reason=f"no TFLM tree at {TFLM_TREE}")
def test_an_op_the_runner_cannot_register_is_refused_by_name(model, monkeypatch, tmp_path):
    assert check_model(model, TFLM_TREE) == ["CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED",
                                             "SOFTMAX"]
    odd = _with_opcode(model, "MEAN", "LSH_PROJECTION")
    assert "LSH_PROJECTION" in [op.op for op in read_model(odd).operators]
    monkeypatch.setenv("PATH", "")                     # refused before the toolchain is needed
    with pytest.raises(InputError) as err:
        run_model(odd, None, "qemu-m4", tflm=TFLM_TREE, cache=tmp_path)
    assert "op LSH_PROJECTION cannot be registered" in _one_line(err)
    assert not any(tmp_path.iterdir())


def test_a_model_that_is_not_full_int8_is_refused(model):
    pytest.importorskip("tensorflow")
    import _tf_models

    spec = next(s for s in _tf_models.MODEL_SPECS if not s.int8_io)
    with pytest.raises(InputError, match="full-int8"):
        random_windows(_tf_models.build_tflite(spec), 2)


def test_unknown_target_is_one_line():
    with pytest.raises(InputError, match="unknown target 'qemu-m7'.*qemu-m4"):
        run_model(b"", None, "qemu-m7")


# --- the line protocol --------------------------------------------------------------------------

def _line(record: str) -> str:
    return f"{record}|{zlib.crc32(record.encode()) & 0xFFFFFFFF:08x}\n"


_GOOD = ("boot banner of some board\n"
         + _line('{"t":"hello","proto":1,"target":"x","timer":"t","timer_hz":1,"windows":1}')
         + _line('{"t":"window","i":0,"ticks":5,"op_ticks":[5],"out":[1,-2]}')
         + _line('{"t":"end","windows":1}'))


def test_protocol_parses_records_and_skips_foreign_lines():
    records = parse_lines(_GOOD)
    assert [r["t"] for r in records] == ["hello", "window", "end"]
    assert records[1]["out"] == [1, -2]
    assert parse_line(_line('{"t":"log","msg":"a|b"}'))["msg"] == "a|b"   # '|' in the payload


def test_protocol_detects_a_truncated_line():
    cut = _GOOD[:-20]                                   # the stream stops inside the last line
    with pytest.raises(ProtocolError, match="truncated"):
        parse_lines(cut)
    lines = _GOOD.splitlines(keepends=True)
    with pytest.raises(ProtocolError, match="line 3 is truncated"):
        parse_lines(lines[0] + lines[1] + lines[2][:30] + "\n" + lines[3])


def test_protocol_detects_a_crc_error():
    damaged = _GOOD.replace('"out":[1,-2]', '"out":[1,-3]')
    with pytest.raises(ProtocolError, match="line 3 fails its CRC"):
        parse_lines(damaged)


def test_protocol_detects_a_missing_final_line():
    without_end = "".join(_GOOD.splitlines(keepends=True)[:-1])
    with pytest.raises(ProtocolError, match="ends before its final line"):
        parse_lines(without_end)
    assert len(parse_lines(without_end, complete=False)) == 2


# --- the sources for a real board ---------------------------------------------------------------

@pytest.mark.skipif(not TFLM_TREE.is_dir(), reason=f"no TFLM tree at {TFLM_TREE}")
def test_export_sources_for_a_real_board(model, tmp_path):
    from lut_store.target import export_sources

    files = export_sources(model, tmp_path / "board", tflm=TFLM_TREE, windows=2)
    names = sorted(p.name for p in files)
    assert names == ["board.h", "board_generic.c", "mn_inputs.c", "mn_model.h", "mn_model_data.c",
                     "mn_ops.cc", "runner.cc"]
    ops_cc = (tmp_path / "board" / "mn_ops.cc").read_text()
    assert "MicroMutableOpResolver<5>" in ops_cc and "resolver.AddMean()" in ops_cc
    assert f"mn_model_len = {len(model)}u" in (tmp_path / "board" / "mn_model_data.c").read_text()
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc:                                            # the board layer builds for any Cortex-M
        import subprocess

        for cpu in ("cortex-m4", "cortex-m7", "cortex-m33"):
            subprocess.run([gcc, f"-mcpu={cpu}", "-mthumb", "-Wall", "-Werror", "-c",
                            str(tmp_path / "board" / "board_generic.c"), "-o",
                            str(tmp_path / f"board_{cpu}.o")], check=True)
