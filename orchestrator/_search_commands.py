"""`micronas search`, `export` and `verify`: one MicroNAS search on one data set, board and budget,
its deployment stage, and the re-check of any int8 model."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lut_store import InputError

LUT_ENV = "MICRONAS_LUT"


def register(sub) -> None:
    p = sub.add_parser("search", help="search, derive (within budget), retrain, score and deploy "
                                      "one network")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="ucihar, hapt, hapt12 (UCI-HAPT's 12 classes), basicmotions, "
                                       "japanesevowels")
    src.add_argument("--data", help="a data file or folder: .csv/.parquet recordings (a row per "
                                    "sample) or windowed .parquet, .npz windows, a UEA .ts pair, "
                                    "UCI-HAR folder/zip, SkodaR .mat (`micronas data inspect` "
                                    "shows what it holds)")
    _protocol_option(p)
    p.add_argument("--mcu", required=True, help="board name or path of its JSON file")
    p.add_argument("--lat-ms", type=_positive_float, help="latency budget Lat_t in ms")
    p.add_argument("--mem-kb", type=_positive_float,
                   help="peak-RAM budget Mem_t in KB (1024 B): the arena + the input window's buffer")
    p.add_argument("--flash-kb", type=_positive_float,
                   help="flash budget in KB (1024 B): the int8 model + the TFLM runtime's code")
    p.add_argument("--power-mw", type=_positive_float,
                   help="power budget in mW: the sensors + the inferences, on average "
                        "(lut_store/energy/datasheets.json); kept as a latency cap")
    p.add_argument("--energy", metavar="FILE",
                   help="supply currents for the energy estimate and --power-mw (a "
                        "micronas-energy file; default: the packaged datasheet figures)")
    p.add_argument("--out", required=True, help="output folder for architecture.json and result.json")
    p.add_argument("--lut", default=None, help=f"LUT folder URL (default ${LUT_ENV})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print result.json (without history) as JSON")
    p.add_argument("--skip-deploy", action="store_true",
                   help="skip the deployment stage that otherwise follows retraining (QAT, int8 "
                        "model, TFLM checks, firmware bundle; ~25-35 s on UCI-HAR; "
                        "`micronas export --run OUT` runs it later)")
    _search_options(p)
    _deploy_options(p)
    p.set_defaults(run=_search)

    p = sub.add_parser("export", help="deployment stage on a finished search: QAT, full-int8 model, "
                                      "TFLM/LiteRT checks, offline memory plan, firmware bundle")
    p.add_argument("--run", dest="run_dir", metavar="DIR", required=True,
                   help="the search's output folder")
    p.add_argument("--out", help="bundle folder (default: the run folder)")
    p.add_argument("--lut", default=None,
                   help=f"LUT folder URL to price the exported graph (default ${LUT_ENV}; "
                        "without one the latency is not checked)")
    p.add_argument("--mcu", help="board (default: the search's)")
    _deploy_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="print model.json")
    p.set_defaults(run=_export)

    p = sub.add_parser("verify", help="re-check an int8 .tflite on a board: TFLM arena (with and "
                                      "without offline plan), LUT latency, flash, parity; "
                                      "--target: on an emulated Cortex-M too")
    p.add_argument("--model", required=True, help="a full-int8 .tflite file")
    p.add_argument("--mcu", help="board name or path of its JSON file (required without --target)")
    p.add_argument("--lut", default=None, help=f"LUT folder URL (default ${LUT_ENV})")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="data set name: adds TFLM vs LiteRT-reference parity and "
                                       "int8 accuracy on its test split")
    src.add_argument("--data", help="... or a data file or folder")
    p.add_argument("--seed", type=int, default=0, help="split seed of the data set")
    _protocol_option(p)
    p.add_argument("--arena-bytes", type=_positive_int, help="check the model in an arena of this size")
    p.add_argument("--lat-ms", type=_positive_float, help="latency budget to check")
    p.add_argument("--mem-kb", type=_positive_float, help="arena-head budget to check (KB of 1024 B)")
    p.add_argument("--max-lsb", type=_non_negative_int, default=1)
    target = p.add_argument_group("on target (TFLite-Micro + CMSIS-NN firmware on QEMU)")
    target.add_argument("--target", choices=_target_choices(),
                        help="build the model into the runner firmware and run it on this "
                             "emulated core; --mcu, --lut and --dataset become optional")
    _tflm_option(target)
    target.add_argument("--windows", type=_positive_int, default=None,
                        help="windows run on the target (default 256: the first test windows, "
                             "or seeded random int8 inputs without --dataset/--data)")
    target.add_argument("--all", action="store_true", dest="all_windows",
                        help="every test window of the data set on the target")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_verify)


def _protocol_option(p) -> None:
    p.add_argument("--protocol", default="official",
                   help="how the data are split: official (the source's test split; default), "
                        "subjects-<fold>of<folds> (subject-wise k-fold, e.g. subjects-0of5) or "
                        "paper-random (windows at random across the splits: LEAKY, only to "
                        "compare with published figures)")
    window_options(p)


def window_options(p) -> None:
    p.add_argument("--window", type=_positive_int, default=None,
                   help="window length in samples for data cut from recordings (CSV/Parquet long "
                        "form, .mat, ucihar, hapt, hapt12; default: the source's, 128 for tables)")
    p.add_argument("--step", type=_positive_int, default=None,
                   help="samples between window starts (default: the source's; half the window "
                        "for tables)")
    p.add_argument("--rate-hz", dest="rate_hz", type=float, default=None,
                   help="sampling rate of the front end (ucihar, hapt, hapt12): the recording's "
                        "rate divided by a whole number, anti-aliased (default: the recording's)")
    p.add_argument("--sensors", type=lambda v: [s for s in v.split(",") if s], default=None,
                   help="sensors the front end keeps, e.g. acc or acc,gyro (ucihar, hapt, "
                        "hapt12; default: all)")


def _data_options(args) -> dict:
    """load_dataset's keywords: the protocol, and the front-end options where given."""
    from search_core.data import parse_protocol
    front = {k: getattr(args, k, None) for k in ("window", "step", "rate_hz", "sensors")}
    return {**parse_protocol(args.protocol), **{k: v for k, v in front.items() if v is not None}}


def _target_choices() -> tuple[str, ...]:
    from search_core.deploy import TARGET_CHOICES
    return TARGET_CHOICES


def _tflm_option(group) -> None:
    from lut_store.target import TFLM_ENV
    group.add_argument("--tflm", metavar="DIR", default=None,
                       help=f"the TFLite-Micro tree (made by create_tflm_tree.py with CMSIS-NN) "
                            f"for a target run (default ${TFLM_ENV})")


def _use_tflm(args) -> None:
    """--tflm is the environment setting $MICRONAS_TFLM for this process (see DeployConfig: the
    tree's location is the machine's, not part of the deployment's config)."""
    from lut_store.target import TFLM_ENV
    if getattr(args, "tflm", None):
        os.environ[TFLM_ENV] = str(Path(args.tflm).expanduser().resolve())


# Flags with a stricter parser than their field's type (their messages are documented in
# docs/BAD_INPUT.md); every other flag parses its type and the dataclass checks the range.
def _field_parsers() -> dict:
    return {"epochs": _non_negative_int, "retrain_epochs": _positive_int, "batch_size": _positive_int,
            "qat_epochs": _non_negative_int, "calibration_windows": _positive_int,
            "arena_size": _positive_int, "target_windows": _positive_int}


def _config_flags(group, cls, denied: dict, names: dict, dest_prefix: str = "") -> None:
    """One flag per settable field of a config dataclass: `--field-name` (or the names in
    `names`), its help and default from the field (see orchestrator/_config_surface.py)."""
    from . import _config_surface as surface

    parsers = _field_parsers()
    for f in surface.settable(cls, denied):
        kind, _ = surface.field_type(f)
        flags = names.get(f.name, ("--" + f.name.replace("_", "-"),))
        kw = {"dest": dest_prefix + f.name, "default": surface.default(f),
              "help": surface.help_text(f)}
        if kind is not bool and not f.metadata.get("choices"):
            kw["metavar"] = f.name.upper()
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif f.metadata.get("choices"):
            kw["choices"] = f.metadata["choices"]
        else:
            kw["type"] = parsers.get(f.name) or _ANY[kind]
        group.add_argument(*flags, **kw)


def _search_options(p) -> None:
    from . import _config_surface as surface

    group = p.add_argument_group("search (SearchConfig)")
    _config_flags(group, surface.search_config_class(), surface.CLI_SEARCH_DENIED, {})


def _search_config(args):
    """The SearchConfig of `micronas search`'s flags."""
    from . import _config_surface as surface

    cls = surface.search_config_class()
    return cls(**{f.name: getattr(args, f.name)
                  for f in surface.settable(cls, surface.CLI_SEARCH_DENIED)})


def _deploy_options(p) -> None:
    from . import _config_surface as surface

    cls = surface.deploy_config_class()
    group = p.add_argument_group("deployment (DeployConfig)")
    _config_flags(group, cls, surface.CLI_DEPLOY_DENIED, surface.CLI_DEPLOY_FLAGS,
                  surface.CLI_DEPLOY_DEST)
    group.add_argument("--ptq", dest=surface.CLI_DEPLOY_DEST + "quantisation", action="store_const",
                       const="ptq", default=cls.quantisation,   # the older spelling of the flag
                       help="post-training quantisation instead of QAT (= --quantisation ptq)")
    _tflm_option(group)


def _deploy_config(args, seed: int):
    from . import _config_surface as surface

    cls = surface.deploy_config_class()
    return cls(seed=seed, **{f.name: getattr(args, surface.CLI_DEPLOY_DEST + f.name)
                             for f in surface.settable(cls, surface.CLI_DEPLOY_DENIED)})


def _progress(enabled: bool):
    if not enabled:
        return None
    return lambda message: print(f"deploy: {message}", file=sys.stderr, flush=True)


def _number(kind, check, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or not check(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_float = _number(float, lambda v: v > 0, "a positive number")
_positive_int = _number(int, lambda v: v > 0, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "a non-negative integer")
_ANY = {int: _number(int, lambda v: True, "an integer"), float: _number(float, lambda v: True, "a number"),
        str: str}


def _search(args) -> int:
    from lut_store import EnergyModel, LatencyModel, load_mcu
    from search_core import load_dataset, run_search

    from .cli import emit

    if all(v is None for v in (args.lat_ms, args.mem_kb, args.flash_kb, args.power_mw)):
        raise InputError("give at least one budget: --lat-ms, --mem-kb, --flash-kb and/or "
                         "--power-mw")
    lut = args.lut or os.environ.get(LUT_ENV)
    if not lut:
        raise InputError(f"no LUT: import board measurements with `micronas lut import` and pass "
                         f"--lut URL (or set ${LUT_ENV})")
    mcu = load_mcu(args.mcu)  # an unknown board fails before any data is read
    energy = EnergyModel.load(args.energy)   # ... and so does a bad energy file
    _use_tflm(args)
    deploy_config = None if args.skip_deploy else _deploy_config(args, args.seed)
    if deploy_config is not None:
        from search_core.deploy import require_deploy_stack
        require_deploy_stack(deploy_config, import_now=False)  # fail before the search
    latency = LatencyModel.open(lut, mcu)
    if not len(latency.lut) and latency.predictor is None:
        raise InputError(f"{lut}: no LUT rows for {mcu.name} and nothing to predict from")
    data = load_dataset(args.dataset or args.data, seed=args.seed, **_data_options(args))
    config = _search_config(args)   # every SearchConfig flag (see _search_options)
    outcome = run_search(data, latency, lat_ms=args.lat_ms, mem_kb=args.mem_kb,
                         flash_kb=args.flash_kb, power_mw=args.power_mw,
                         energy=energy, config=config,
                         out_dir=args.out, show_progress=not args.no_progress,
                         data_source=args.dataset or str(Path(args.data).resolve()),
                         deploy=deploy_config,
                         deploy_progress=_progress(not args.no_progress and not args.json))
    result = {k: v for k, v in outcome.result.items() if k != "search_history"}
    dep = outcome.deployment   # the stages search -> retrain -> deploy (search_core.stages)
    if dep is not None:
        result["deploy"] = _deploy_summary(dep)

    def human(r):
        b = r["budget"]
        print(f"{r['dataset']} on {r['mcu']}: budget {b['latency_ms']} ms / {b['memory_kb']} KB"
              + (f" / {b['flash_kb']} KB flash" if b.get("flash_kb") is not None else "")
              + (f" / {b['power_mw']} mW (a latency cap of {b['latency_ms_effective']:.2f} ms)"
                 if b.get("power_mw") is not None else ""))
        if r.get("flash_bytes") is not None:
            print(f"  flash {r['flash_bytes'] / 1024:.2f} KB (model "
                  f"{r['model_flash_bytes'] / 1024:.2f} KB + runtime)")
        print(f"  latency {r['latency_ms']:.2f} ms (expected {r['expected_latency_ms']:.2f}), "
              f"peak memory {r['peak_memory_bytes'] / 1024:.2f} KB "
              f"(expected {r['expected_memory_bytes'] / 1024:.2f}) + input buffer "
              f"{b.get('input_buffer_bytes', 0) / 1024:.2f} KB, fits: {r['fits']}")
        e = r.get("energy") or {}
        if e.get("energy_per_inference_mj") is not None:
            print(f"  energy {e['energy_per_inference_mj']:.3g} mJ per inference"
                  + (f", {e['power_mw']:.3g} mW with sensing" if e.get("power_mw") is not None
                     else "") + f" (estimated: {e['data_file']})")
        if r["repairs"]:
            print(f"  repaired in {len(r['repairs'])} steps: {', '.join(r['repairs'])}")
        print(f"  test accuracy {100 * r['test_accuracy']:.2f} %, macro-F1 {100 * r['test_macro_f1']:.2f} %")
        t = r["timings"]
        print(f"  search {t['search_s']:.0f} s, retraining {t['retrain_s']:.0f} s -> {args.out}")
        if dep is not None:
            _print_deployment(dep.report, dep.bundle)
    emit(result, args.json, human)
    return 0 if dep is None or dep.report["status"] == "passed" else 1   # a gate failed


def _export(args) -> int:
    from search_core.deploy import deploy_run

    from .cli import emit

    lut = args.lut or os.environ.get(LUT_ENV)
    _use_tflm(args)
    config = _deploy_config(args, _run_seed(args.run_dir))
    dep = deploy_run(args.run_dir, latency=lut, config=config, out=args.out, mcu=args.mcu,
                     progress=_progress(not args.no_progress and not args.json))
    emit(dep.report, args.json, lambda r: _print_deployment(r, dep.bundle))
    return 0 if dep.report["status"] == "passed" else 1   # like `verify`: a gate failed


def _run_seed(run_dir: str) -> int:
    from search_core import RunFolder

    seed = RunFolder(run_dir).seed()
    return 0 if seed is None else seed   # deploy_run names the problem with the folder


def _verify(args) -> int:
    from lut_store import LatencyModel, load_mcu
    from search_core.deploy import verify_model

    from .cli import emit

    lut = args.lut or os.environ.get(LUT_ENV)
    if args.target is not None:
        from search_core.deploy import require_target
        require_target(args.target, args.tflm)   # before the model or the data is read
    elif args.mcu is None:
        raise InputError("give --mcu BOARD (or --target qemu-m4|qemu-m33 to run on an emulated core)")
    if args.mcu is not None and not lut and args.target is None:
        raise InputError(f"no LUT: pass --lut URL (or set ${LUT_ENV}) to price the model")
    try:
        model = Path(args.model).read_bytes()
    except OSError as exc:
        raise InputError(f"{args.model}: cannot read the model ({exc.strerror or exc})") from None
    data = None
    if args.dataset or args.data:
        from search_core.data import load_dataset
        data = load_dataset(args.dataset or args.data, seed=args.seed, **_data_options(args))
    if args.mcu is not None and lut:
        latency = LatencyModel.open(lut, load_mcu(args.mcu))
        report = verify_model(model, latency, data=data, arena_size=args.arena_bytes,
                              source=args.model, max_lsb=args.max_lsb, lat_ms=args.lat_ms,
                              mem_bytes=None if args.mem_kb is None else args.mem_kb * 1024)
    else:   # --target alone (with --mcu but no LUT the board checks are skipped: a note says so)
        report = _target_only_report(model, args.model, args.mcu)
    if args.target is not None:
        from search_core.deploy import verify_on_target
        t = verify_on_target(model, args.target, tflm=args.tflm, data=data,
                             windows=None if args.all_windows else (args.windows or 256),
                             max_lsb=args.max_lsb, seed=args.seed, source=args.model)
        report["target"] = t
        report["failures"] += t["failures"]
        report["status"] = "failed" if report["failures"] else "passed"
    if "memory" not in report:
        emit(report, args.json, _print_target_only)
        return 0 if report["status"] == "passed" else 1

    def human(r):
        m = r["memory"]
        print(f"{r['model']} on {r['mcu']}: {r['status'].upper()}")
        plan = "with its offline plan" if m["offline_plan"] else "with TFLM's greedy planner"
        print(f"  arena {plan}: head {m['model_board_arena_head_bytes']} B on the board "
              f"(host TFLM head {m['greedy_arena_head_bytes'] if not m['offline_plan'] else m['tflm_arena_head_bytes']} B), "
              f"lower bound on the board {m['board_lower_bound_bytes']} B")
        print(f"  latency {r['latency']['lut_ms']:.2f} ms from the LUT; flash {r['flash']['model_bytes']} B")
        if "parity" in r:
            p, a = r["parity"], r["accuracy"]["int8_tflm"]
            print(f"  TFLM vs LiteRT-reference: max {p['max_lsb']} LSB over {p['windows']} windows; "
                  f"int8 accuracy {100 * a['accuracy']:.2f} %, macro-F1 {100 * a['macro_f1']:.2f} %")
        for note in r["notes"]:
            print(f"  note: {note}")
        for line in describe_target(r["target"]) if r.get("target") else ():
            print(f"  {line}")
        for failure in r["failures"]:
            print(f"  FAILED: {failure}")
    emit(report, args.json, human)
    return 0 if report["status"] == "passed" else 1


def _target_only_report(model: bytes, source: str, mcu: str | None) -> dict:
    notes = [] if mcu is None else [(f"no LUT: the checks on {mcu} (latency, host TFLM arena, "
                                     f"budgets) were skipped; pass --lut URL or set ${LUT_ENV}")]
    return {"model": source, "mcu": mcu, "status": None, "failures": [], "notes": notes}


def _print_target_only(r: dict) -> None:
    print(f"{r['model']} on {r['target']['name']}: {r['status'].upper()}")
    for line in describe_target(r["target"]):
        print(f"  {line}")
    for note in r["notes"]:
        print(f"  note: {note}")
    for failure in r["failures"]:
        print(f"  FAILED: {failure}")


def describe_target(t: dict) -> list[str]:
    from search_core.deploy import describe_target as lines
    return lines(t)


def _deploy_summary(dep) -> dict:
    r = dep.report
    return {"status": r["status"], "failures": r["failures"], "disagreements": r["disagreements"],
            "bundle": str(dep.bundle) if dep.bundle else None,
            "quantisation": r["quantisation"]["method"],
            "int8_accuracy": r["accuracy"]["int8_tflm"]["accuracy"],
            "float_accuracy": r["accuracy"]["float"]["accuracy"],
            "max_lsb": r["parity"]["max_lsb"],
            "arena_head_bytes": r["memory"]["tflm_arena_head_bytes"],
            "greedy_arena_head_bytes": r["memory"]["greedy_arena_head_bytes"],
            "arena_size_bytes": r["memory"]["arena_size_bytes"],
            "latency_ms": r["latency"].get("lut_ms"),
            "flash_bytes": r["flash"].get("delivered_bytes"),
            "model_bytes": r["flash"]["model_bytes"],
            **({"target": _target_columns(r)} if r.get("target") else {})}


def _target_columns(report: dict) -> dict:
    """The target step's figures as the results row holds them (one owner: DeploymentReport)."""
    from search_core import DeploymentReport
    row = DeploymentReport.from_report(report).to_row()
    return {k: v for k, v in row.items() if k.startswith("target")}


def _print_deployment(r: dict, bundle) -> None:
    a, p, m, lat = r["accuracy"], r["parity"], r["memory"], r["latency"]
    q = r["quantisation"]
    method = q["method"] + (f" (fallback: {q['fallback_reason']})" if q["fallback_reason"] else "")
    print(f"deploy {r['status'].upper()} ({method}): int8 accuracy "
          f"{100 * a['int8_tflm']['accuracy']:.2f} % in TFLM vs float {100 * a['float']['accuracy']:.2f} % "
          f"(drop {a['drop_points']:.2f} points), macro-F1 {100 * a['int8_tflm']['macro_f1']:.2f} %")
    print(f"  parity TFLM vs LiteRT-reference: max {p['max_lsb']} LSB over {p['windows']} test windows")
    print(f"  arena head on the board {m['board_arena_head_bytes']} B with the offline plan and the "
          f"CMSIS-NN scratch (the search's peak memory; liveness bound {m['board_lower_bound_bytes']} B)"
          f" vs {m['greedy_board_arena_head_bytes']} B with TFLM's greedy planner: "
          f"{m['ram_saved_bytes']} B saved; outputs bit-identical: {m['outputs_bit_identical']}")
    print(f"  host TFLM head {m['tflm_arena_head_bytes']} B; reserve "
          f"{m['arena_size_bytes']} B; flash {r['flash']['model_bytes']} B")
    if lat.get("checked"):
        est = lat["search_estimate_ms"]
        print(f"  latency {lat['lut_ms']:.2f} ms from the LUT"
              + (f" (search estimate {est:.2f} ms)" if est is not None else ""))
    else:
        print(f"  latency not checked ({lat['reason']})")
    if r.get("target") and "parity" in r["target"]:
        for line in describe_target(r["target"]):
            print(f"  {line}")
    for failure in r["failures"]:
        print(f"  FAILED: {failure}")
    for d in r["disagreements"]:
        print(f"  disagreement: {d}")
    if bundle is not None:
        print(f"  bundle: {bundle}")
