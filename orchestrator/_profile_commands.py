"""`micronas profile …`: measure a board (or an emulated core) into a LUT.

    micronas profile plan    --dataset ucihar --mcu my-board [--calibration 50] --out plan.json
    micronas profile build   --plan plan.json --target qemu-m33|qemu-m4|sources --out fw/
    micronas profile run     --firmware fw/ --log run.log                    # QEMU targets
    micronas profile collect --log run.log | --port /dev/ttyACM0 --plan plan.json --out records/
    micronas lut import --mcu fw/qemu-m33.json --records records/ --out lut/
    micronas lut fit --lut lut/

The plan holds the op configurations the data set's search space needs (all of them, or a
calibration set that covers every code path the predictor models, see lut_store.calibration_set);
build makes each one's single-layer int8 model with the deployment's own layer code
(search_core.deploy.op_model_tflite, so the keys match the LUT's) and links them into ONE
profiling image (lut_store.target.build_profile); collect turns the runner's output into the
measurement records `lut import` reads, resuming where an earlier collect stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from lut_store import InputError, OpConfig, calibration_set, code_path, load_mcu
from lut_store.storage import write_file

from .cli import emit, positive_int

PLAN_FORMAT = "micronas.profile-plan"
MANIFEST = "profile.json"           # what `profile build` wrote, in its --out folder
RECORDS_FILE = "records.json"       # what `profile collect` writes, in its --out folder
_TARGETS = ("qemu-m4", "qemu-m33", "sources")


def register(sub) -> None:
    prof = sub.add_parser("profile", help="measure a board into a LUT: plan, build, run, collect")
    psub = prof.add_subparsers(dest="profile_command", metavar="PROFILE_COMMAND",
                               parser_class=type(prof))
    psub.required = True

    p = psub.add_parser("plan", help="the op configurations a data set's search space needs")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="ucihar, hapt, hapt12, basicmotions, japanesevowels")
    src.add_argument("--data", help="a data file or folder (as for `micronas search`)")
    p.add_argument("--mcu", required=True,
                   help="the board to measure: name, JSON path, or qemu-m4 / qemu-m33 (emulated)")
    p.add_argument("--calibration", type=positive_int, default=None,
                   help="only about N configurations covering every code path the predictor "
                        "models (default: all)")
    p.add_argument("--out", required=True, help="plan file to write (JSON)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_plan)

    p = psub.add_parser("build", help="one profiling firmware of the plan's single-layer models")
    p.add_argument("--plan", required=True, help="plan file (`micronas profile plan`)")
    p.add_argument("--target", required=True, choices=_TARGETS,
                   help="a QEMU machine (an ELF) or `sources` for a board project")
    p.add_argument("--tflm", default=None, help="TFLM tree (default $MICRONAS_TFLM)")
    p.add_argument("--out", required=True, help="output folder (replaced when it is a build)")
    p.add_argument("--windows", type=positive_int, default=3,
                   help="invokes per model, the median is kept (default 3)")
    p.add_argument("--jobs", type=positive_int, default=2, help="compiler processes (default 2)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_build)

    p = psub.add_parser("run", help="run a QEMU profiling firmware and save its output")
    p.add_argument("--firmware", required=True, help="folder written by `profile build`")
    p.add_argument("--log", required=True, help="file to write the runner's output to")
    p.add_argument("--timeout", type=positive_int, default=1800, help="seconds (default 1800)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_run)

    p = psub.add_parser("collect", help="runner output -> measurement records (resumable)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0 (pyserial)")
    where.add_argument("--log", help="a file holding the runner's output")
    p.add_argument("--plan", required=True, help="the plan the firmware was built from")
    p.add_argument("--out", required=True, help="records folder (for `micronas lut import`)")
    p.add_argument("--baud", type=positive_int, default=115200, help="port speed (default 115200)")
    p.add_argument("--timeout", type=positive_int, default=600,
                   help="port: give up after this many seconds without a new model (default 600)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_collect)




def _board(name: str):
    """A board definition, or the emulated board of a QEMU target name."""
    if name in ("qemu-m4", "qemu-m33"):
        try:
            return load_mcu(name)                 # a board file of that name wins
        except InputError:
            from lut_store.target import emulated_board
            return emulated_board(name)
    return load_mcu(name)


def config_id(cfg: OpConfig) -> str:
    """A configuration's id in plans, firmware and records: 12 hex digits of its key's SHA-256."""
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def _config(d: dict, where: str) -> OpConfig:
    try:
        return OpConfig(op=str(d["op"]), input_shape=tuple(int(x) for x in d["input_shape"]),
                        output_shape=tuple(int(x) for x in d["output_shape"]),
                        kernel=tuple(int(x) for x in d["kernel"]),
                        stride=tuple(int(x) for x in d["stride"]),
                        padding=str(d["padding"]), activation=str(d["activation"]))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: a plan entry must have op, input_shape, output_shape, "
                         "kernel, stride, padding and activation") from None


def read_plan(path) -> dict:
    """A plan file, validated: {"mcu", "configs": [(id, OpConfig)], ...}."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such plan file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable plan file ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise InputError(f"{path}: not a profiling plan (write one with `micronas profile plan`)")
    entries = doc.get("configs")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: the plan has no configurations")
    configs = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise InputError(f"{path}: plan entry {i} is not an object")
        cfg = _config(e, f"{path}: plan entry {i}")
        if e.get("id") != config_id(cfg):
            raise InputError(f"{path}: plan entry {i} has id {e.get('id')!r}, its configuration's "
                             f"is {config_id(cfg)} (edited by hand?)")
        configs.append((e["id"], cfg))
    if len({i for i, _ in configs}) != len(configs):
        raise InputError(f"{path}: the plan lists a configuration twice")
    return {**doc, "configs": configs, "path": str(path)}


# -- plan ---------------------------------------------------------------------------------------

def _plan(args) -> None:
    from search_core.data import load_dataset
    from search_core.space import SearchSpace

    mcu = _board(args.mcu)
    data = load_dataset(args.dataset or args.data)
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    every = space.op_configs()
    chosen = every if args.calibration is None else calibration_set(every, args.calibration)
    paths: dict[str, int] = {}
    for cfg in chosen:
        paths[code_path(cfg)] = paths.get(code_path(cfg), 0) + 1
    doc = {
        "format": PLAN_FORMAT, "version": 1, "dataset": args.dataset or args.data,
        "space": {"input_steps": data.window, "input_channels": data.n_channels,
                  "n_classes": data.n_classes, "op_configs": len(every)},
        "mcu": mcu.name, "calibration": args.calibration,
        "selection": ("all op configurations of the space" if args.calibration is None else
                      "lut_store.calibration_set: per predictor code path, quotas up to 2x its "
                      "feature count, rank-first then farthest-point in log feature space"),
        "code_paths": dict(sorted(paths.items())),
        "configs": [{"id": config_id(c), **c.to_dict(), "code_path": code_path(c)}
                    for c in chosen],
    }
    write_file(args.out, (json.dumps(doc, indent=1) + "\n").encode())
    result = {"plan": args.out, "mcu": mcu.name, "dataset": doc["dataset"],
              "space_op_configs": len(every), "planned": len(chosen),
              "code_paths": doc["code_paths"]}
    emit(result, args.json, lambda r: print(
        f"plan {r['plan']}: {r['planned']} of {r['space_op_configs']} op configurations of the "
        f"{r['dataset']} space for {r['mcu']} "
        f"({', '.join(f'{k} {v}' for k, v in r['code_paths'].items())})"))


# -- build --------------------------------------------------------------------------------------

def _build(args) -> None:
    from lut_store.target import (
        build_profile,
        check_profile_target,
        emulated_board,
        export_profile_sources,
    )

    plan = read_plan(args.plan)
    emulated = args.target != "sources"
    check_profile_target(args.target if emulated else None, args.tflm)   # before any model
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / MANIFEST).is_file())):
        raise InputError(f"{out}: exists and is not a profiling build (choose another --out)")
    from search_core.deploy import op_model_tflite

    t0 = time.monotonic()
    models = [(ident, op_model_tflite(cfg)) for ident, cfg in plan["configs"]]
    convert_seconds = time.monotonic() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (work / "models").mkdir()
        for ident, data in models:
            (work / "models" / f"{ident}.tflite").write_bytes(data)
        manifest = {"plan": str(Path(args.plan).resolve()), "plan_sha256": _sha(args.plan),
                    "target": args.target, "windows": args.windows,
                    "ids": [i for i, _ in models], "models": len(models),
                    "model_bytes": sum(len(d) for _, d in models),
                    "convert_seconds": round(convert_seconds, 2)}
        if emulated:
            fw = build_profile(models, args.target, work / "firmware", tflm=args.tflm,
                               windows=args.windows, passes=1, jobs=args.jobs)
            board = emulated_board(args.target)
            (work / f"{board.name}.json").write_text(json.dumps(board.to_dict(), indent=2) + "\n")
            manifest.update(elf="firmware/app.elf", board=f"{board.name}.json",
                            flash_bytes=fw.flash_bytes,
                            build_seconds=round(fw.build_seconds, 2))
        else:
            export_profile_sources(models, work / "sources", tflm=args.tflm,
                                   windows=args.windows, name=plan["mcu"])
            manifest.update(sources="sources")
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    result = {"out": str(out), **{k: v for k, v in manifest.items() if k != "ids"}}

    def human(r):
        what = (f"{r['elf']} ({r['flash_bytes']} B flash, built in {r['build_seconds']} s)"
                if emulated else f"sources in {r['sources']}/ (add the TFLM + CMSIS-NN sources)")
        print(f"{r['models']} single-layer models ({r['model_bytes']} B, converted in "
              f"{r['convert_seconds']} s) -> {r['out']}/{what}")
        if emulated:
            print(f"emulated board: {r['out']}/{r['board']} (its LUT is emulator data)")
    emit(result, args.json, human)


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _manifest(folder) -> dict:
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder}: not a profiling build (no {MANIFEST}; run "
                         "`micronas profile build`)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None


# -- run ----------------------------------------------------------------------------------------

def _run(args) -> None:
    from lut_store.target import read_profile, run_profile

    manifest = _manifest(args.firmware)
    if "elf" not in manifest:
        raise InputError(f"{args.firmware}: a sources build runs on the board, not under QEMU "
                         "(flash it and use `micronas profile collect --port`)")
    t0 = time.monotonic()
    text = run_profile(Path(args.firmware) / manifest["elf"], manifest["target"],
                       timeout=args.timeout)
    seconds = time.monotonic() - t0
    write_file(args.log, text.encode())
    log = read_profile(text)
    result = {"log": args.log, "target": manifest["target"], "models": manifest["models"],
              "reported": len(log.models), "could_not_run": len(log.skipped),
              "run_seconds": round(seconds, 2)}
    emit(result, args.json, lambda r: print(
        f"{r['target']}: {r['reported']} of {r['models']} models reported"
        f"{', ' + str(r['could_not_run']) + ' could not run' if r['could_not_run'] else ''} "
        f"in {r['run_seconds']} s -> {r['log']}"))


# -- collect ------------------------------------------------------------------------------------

def _previous(out: Path, ids: set[str], not_reported: str) -> dict[str, dict]:
    """Records an earlier collect wrote (by plan id), the ones reported missing left out."""
    path = out / RECORDS_FILE
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({str(exc).splitlines()[0]}); move it away") from None
    kept = {}
    for r in records if isinstance(records, list) else []:
        ident = (r.get("profile") or {}).get("id") if isinstance(r, dict) else None
        if ident is None or ident not in ids:
            raise InputError(f"{path}: holds records of another plan (choose another --out)")
        if r.get("error") != not_reported:
            kept[ident] = r
    return kept


def _pyserial():
    try:
        import serial
    except ImportError:
        raise InputError("reading a serial port needs pyserial: pip install pyserial") from None
    return serial


def read_port(open_port, log, done, timeout: float, *, clock=time.monotonic,
              pause=time.sleep) -> int:
    """Feed a board's output into `log` until `done()` or `timeout` seconds pass without a new
    model; `open_port()` gives an object with read(n) -> bytes (a serial.Serial). A disconnect
    (OSError) drops the line in flight and reconnects; returns the number of reconnects."""
    reconnects, last = 0, clock()
    while not done() and clock() - last < timeout:
        tail = ""
        try:
            port = open_port()
        except OSError:
            pause(1.0)
            continue
        try:
            while not done() and clock() - last < timeout:
                chunk = port.read(4096)
                if not chunk:
                    continue
                before = len(log.models) + len(log.skipped)
                tail = log.feed(tail + chunk.decode("utf-8", errors="replace"), final=False)
                if len(log.models) + len(log.skipped) > before:
                    last = clock()
        except OSError:
            reconnects += 1
            if tail:
                log.damaged.append(f"cut off by a disconnect: {tail[:60]!r}")
            pause(1.0)
        finally:
            close = getattr(port, "close", None)
            if close is not None:
                try:
                    close()
                except OSError:
                    pass
    return reconnects


def _collect(args) -> None:
    from lut_store.target import NOT_REPORTED, ProfileLog, profile_records, read_profile

    plan = read_plan(args.plan)
    ids = [i for i, _ in plan["configs"]]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    previous = _previous(out, set(ids), NOT_REPORTED)
    log = ProfileLog()
    reconnects = 0
    if args.log is not None:
        try:
            text = Path(args.log).read_bytes()
        except OSError as exc:
            raise InputError(f"{args.log}: cannot read the log ({exc.strerror})") from None
        read_profile(text, log)
    else:
        serial = _pyserial()

        def done() -> bool:
            return all(i in previous or k in log.models or k in log.skipped
                       for k, i in enumerate(ids))

        reconnects = read_port(lambda: serial.Serial(args.port, args.baud, timeout=1.0), log,
                               done, args.timeout)
    targets = {r.get("profile", {}).get("target") for r in previous.values()} - {None}
    if log.hello is not None and targets and targets != {log.hello.get("target")}:
        raise InputError(f"{out}: holds records from {', '.join(sorted(targets))}, this output "
                         f"is from {log.hello.get('target')} (one board per records folder)")
    fresh = profile_records(log, plan["configs"])
    # What an earlier collect already has stays as it was: nothing is measured twice.
    out_records = [previous.get(ident, r) for ident, r in zip(ids, fresh)]
    still_missing = [r["profile"]["id"] for r in out_records if r.get("error") == NOT_REPORTED]
    new = sum(1 for ident, r in zip(ids, fresh)
              if ident not in previous and r.get("error") != NOT_REPORTED)
    out.mkdir(parents=True, exist_ok=True)
    write_file(str(out / RECORDS_FILE), (json.dumps(out_records, indent=1) + "\n").encode())
    result = {"records": str(out / RECORDS_FILE), "planned": len(ids),
              "already_collected": len(previous), "new": new,
              "measured": sum(1 for r in out_records if not r.get("error")),
              "could_not_run": sum(1 for r in out_records
                                   if r.get("error") and r["error"] != NOT_REPORTED),
              "missing": still_missing, "damaged_lines": len(log.damaged),
              "repeated_lines": log.duplicates, "reconnects": reconnects,
              "backend": next((r.get("tflmBackend") for r in out_records
                               if r.get("tflmBackend")), None)}

    def human(r):
        print(f"{r['records']}: {r['measured']} of {r['planned']} models measured "
              f"({r['new']} new, {r['already_collected']} from before; backend {r['backend']})")
        if r["damaged_lines"] or r["repeated_lines"] or r["reconnects"]:
            print(f"  skipped {r['damaged_lines']} damaged and {r['repeated_lines']} repeated "
                  f"lines, {r['reconnects']} reconnects")
        if r["could_not_run"]:
            print(f"  {r['could_not_run']} models could not run on the board (error records)")
        if r["missing"]:
            print(f"  missing {len(r['missing'])}: {', '.join(r['missing'][:8])}"
                  f"{' ...' if len(r['missing']) > 8 else ''} (collect again to resume)")
    emit(result, args.json, human)

