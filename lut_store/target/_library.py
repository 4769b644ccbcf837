"""Compiling the TFLM + CMSIS-NN library once per (core, flags, compiler, tree content).

The library is about 300 objects and takes minutes, so it is built once into the user cache
(`cache_root()/lib-<core>-<key>/libtflm.a`) by a thread pool running the cross compiler (the
compiler processes do the work; `jobs` of them at a time, like `make -jN`), then re-used by every
runner build. A build goes into a temporary folder renamed into place when complete, under a
file lock, so concurrent builders wait for one another and a killed build leaves nothing half
written.

What goes in: every `.cc` under tensorflow/ and every `.c` of CMSIS-NN's Source/. Left out: the
signal library and kissfft (the runner registers builtin ops only), TFLM's test helpers, and
cortex_m_generic/ (debug log and timer come from the runner's board layer instead).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ._targets import Target
from ._toolchain import Toolchain, cache_root, tree_hash

__all__ = ["COMMON_FLAGS", "Library", "build_library", "include_flags"]

LIBRARY_FORMAT = 1           # bump when what goes into the library changes

COMMON_FLAGS: tuple[str, ...] = (
    "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-funsigned-char",
    "-ffunction-sections", "-fdata-sections", "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DCMSIS_NN",
    "-DKERNELS_OPTIMIZED_FOR_SPEED", "-DTF_LITE_MCU_DEBUG_LOG", "-DARM_NN_ENABLE_F16=0",
    "-DARM_NN_ENABLE_F32=0",
)
_CXX_ONLY = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
_LEFT_OUT_NAMES = {"test_helpers.cc", "test_helper_custom_ops.cc", "mock_micro_graph.cc",
                   "fake_micro_context.cc"}
# Kernels, signal and CMSIS-NN at -O2 for speed, the framework at -Os (TFLM's own choice).
_O2_PREFIXES = ("tensorflow/lite/micro/kernels/", "third_party/cmsis_nn/", "signal/")


def include_flags(tree: Path, target: Target) -> list[str]:
    dirs = ["", "third_party", "third_party/gemmlowp", "third_party/flatbuffers/include",
            "third_party/kissfft", "third_party/ruy", "third_party/cmsis", "third_party/cmsis_nn",
            "third_party/cmsis/CMSIS/Core/Include", "third_party/cmsis_nn/Include",
            f"third_party/cmsis/Cortex_DFP/Device/{target.device}/Include"]
    return [f"-I{tree / d}" if d else f"-I{tree}" for d in dirs]


def compile_flags(source: str, tree: Path, target: Target, *, opt: str | None = None) -> list[str]:
    is_c = source.endswith(".c")
    flags = [f for f in COMMON_FLAGS if not (is_c and f in _CXX_ONLY)]
    lang = ["-std=c17"] if is_c else ["-std=c++17"]
    if opt is None:
        opt = "-O2" if source.startswith(_O2_PREFIXES) else "-Os"
    return [*target.cpu_flags, *lang, opt, *flags, *target.defines, *include_flags(tree, target)]


def library_sources(tree: Path) -> list[str]:
    out = []
    for p in sorted((tree / "tensorflow").rglob("*.cc")):
        rel = p.relative_to(tree).as_posix()
        if p.name in _LEFT_OUT_NAMES or "/cortex_m_generic/" in rel or rel.endswith("_test.cc"):
            continue
        out.append(rel)
    out += sorted(p.relative_to(tree).as_posix()
                  for p in (tree / "third_party/cmsis_nn/Source").rglob("*.c"))
    return out


@dataclass(frozen=True)
class Library:
    path: Path                # libtflm.a
    key: str
    objects: int
    build_seconds: float      # of the build that made it (0 when it came from the cache)
    cached: bool


def _key(tree: Path, target: Target, toolchain: Toolchain) -> str:
    payload = json.dumps({"format": LIBRARY_FORMAT, "cpu": target.cpu_flags,
                          "defines": target.defines, "common": COMMON_FLAGS,
                          "compiler": toolchain.version, "tree": tree_hash(tree)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_library(tree: Path, target: Target, toolchain: Toolchain, *, jobs: int | None = None,
                  cache: Path | None = None, log=None) -> Library:
    root = Path(cache) if cache is not None else cache_root()
    key = _key(tree, target, toolchain)
    final = root / f"lib-{target.core}-{key}"
    lib = final / "libtflm.a"
    if lib.is_file():
        return Library(lib, key, _objects_of(final), 0.0, True)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".lib-{target.core}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # another process may be building the same one
        if lib.is_file():
            return Library(lib, key, _objects_of(final), 0.0, True)
        if log:
            log(f"building the TFLM + CMSIS-NN library for {target.core} once into {final} "
                "(a few minutes)")
        t0 = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".build-{target.core}-", dir=root))
        try:
            sources = library_sources(tree)
            objects = _compile_all(sources, tree, target, toolchain, work / "obj", jobs)
            _run([toolchain.ar, "rcs", str(work / "libtflm.a"), *map(str, objects)], "ar",
                 cwd=work)
            shutil.rmtree(work / "obj")
            seconds = time.monotonic() - t0
            (work / "build.json").write_text(json.dumps({
                "key": key, "core": target.core, "tree": str(tree), "objects": len(objects),
                "compiler": toolchain.version, "seconds": round(seconds, 1),
                "flags": [*target.cpu_flags, *COMMON_FLAGS, *target.defines]}, indent=1))
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return Library(lib, key, len(objects), seconds, False)


def _objects_of(folder: Path) -> int:
    try:
        return int(json.loads((folder / "build.json").read_text())["objects"])
    except (OSError, ValueError, KeyError):
        return 0


def _compile_all(sources: list[str], tree: Path, target: Target, toolchain: Toolchain,
                 out: Path, jobs: int | None) -> list[Path]:
    out.mkdir(parents=True)
    jobs = jobs or min(os.cpu_count() or 2, 8)

    def one(rel: str) -> Path:
        obj = out / (rel.replace("/", "__").rsplit(".", 1)[0] + ".o")
        cc = toolchain.gcc if rel.endswith(".c") else toolchain.gxx
        _run([cc, *compile_flags(rel, tree, target), "-c", str(tree / rel), "-o", str(obj)], rel)
        return obj

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, sources))


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    if proc.returncode != 0:
        err = [ln for ln in proc.stderr.splitlines() if "error" in ln] or proc.stderr.splitlines()
        raise InputError(f"compiling {what} failed: {(err or ['exit ' + str(proc.returncode)])[0]}")
    return proc.stdout
