"""`micronas lut …`, `micronas mcus` and `micronas cost`: the hardware data on the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from lut_store import InputError, Lut, import_records, list_mcus, load_mcu

from .cli import emit, positive_int


def register(sub) -> None:
    p = sub.add_parser("mcus", help="list the boards (built-in and from $MICRONAS_MCU_PATH)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_mcus)

    lut = sub.add_parser("lut", help="latency lookup tables: import, show, fit, eval")
    lsub = lut.add_subparsers(dest="lut_command", metavar="LUT_COMMAND", parser_class=type(lut))
    lsub.required = True

    p = lsub.add_parser("import", help="import on-device measurement records into a LUT")
    p.add_argument("--mcu", required=True, help="board name or path of its JSON file")
    p.add_argument("--records", required=True, help="folder of record files (searched recursively)")
    p.add_argument("--out", required=True, help="LUT folder URL (local path or s3://bucket/prefix)")
    p.add_argument("--json", action="store_true", help="print the import report as JSON")
    p.set_defaults(run=_import)

    p = lsub.add_parser("show", help="summarise a LUT (rows per board, op and source)")
    p.add_argument("--lut", required=True, help="LUT folder URL")
    p.add_argument("--mcu", help="only this board")
    p.add_argument("--rows", action="store_true", help="print every row, not the summary")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_show)

    p = lsub.add_parser("fit", help="fit the latency predictor and store it beside the LUT")
    p.add_argument("--lut", required=True, help="LUT folder URL")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_fit)

    p = lsub.add_parser("eval", help="predictor error: k-fold CV on a board, or onboarding a new one")
    p.add_argument("--lut", required=True, help="LUT folder URL")
    p.add_argument("--mcu", required=True, help="board to evaluate")
    p.add_argument("--cv", type=positive_int, default=5, help="folds for cross-validation (default 5)")
    p.add_argument("--records", help="onboarding: records of the NEW board (not in the LUT)")
    p.add_argument("--calibration", type=positive_int, default=50,
                   help="onboarding: measured configurations used to calibrate (default 50)")
    p.add_argument("--op", default="CONV_2D", help="op kind to evaluate (default CONV_2D)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_eval)

    p = sub.add_parser("cost", help="price a .tflite model on a board: latency and memory")
    p.add_argument("--mcu", required=True, help="board name or path of its JSON file")
    p.add_argument("--lut", required=True, help="LUT folder URL")
    p.add_argument("--model", required=True, help=".tflite file")
    p.add_argument("--no-tflm", action="store_true", help="skip loading the model in TFLite-Micro")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cost)




def _mcus(args) -> None:
    boards = [load_mcu(name).to_dict() for name in list_mcus()]

    def human(rows):
        print(f"{'name':<18}{'core':<12}{'clock MHz':>10}{'SRAM KB':>9}{'flash KB':>9}  measured")
        for b in rows:
            print(f"{b['name']:<18}{b['core']:<12}{b['clock_hz'] / 1e6:>10g}{b['sram_bytes'] // 1024:>9}"
                  f"{b['flash_bytes'] // 1024:>9}  {'yes' if b['measurements'] else 'no (predicted)'}")
    emit(boards, args.json, human)


def _import(args) -> None:
    mcu = load_mcu(args.mcu)
    new, report = import_records(args.records, mcu.name)
    before = Lut.read(args.out, mcu.name)
    merged = before.merge(new)
    changed = not merged.equals(before)
    if changed:
        merged.write(args.out)
    result = {"mcu": mcu.name, "lut": args.out, **report.to_dict(),
              "rows_before": len(before), "rows_after": len(merged), "changed": changed}

    def human(r):
        print(f"imported {r['records']} records from {r['files']} files for {r['mcu']}")
        for k, n in r["configurations"].items():
            print(f"  {k:<32} {r['imported_records'][k]:>6} records  {n:>6} configurations")
        skipped = sum(r["skipped_error_records"].values())
        print(f"  skipped {skipped} error records {r['skipped_error_records'] or ''}".rstrip())
        state = "written" if r["changed"] else "unchanged (nothing new)"
        print(f"LUT {r['lut']}: {r['rows_before']} -> {r['rows_after']} rows, {state}")
    emit(result, args.json, human)


def _show(args) -> None:
    lut = Lut.read(args.lut)
    if args.mcu:
        lut = lut.for_mcu(load_mcu(args.mcu).name)
    if not len(lut):
        raise InputError(f"{args.lut}: no LUT rows" + (f" for {args.mcu}" if args.mcu else ""))
    if args.rows:
        frame = lut.frame.drop(columns=["runs", "run_cycles", "run_overhead", "run_counts"])
        if args.json:
            emit(frame.to_dict(orient="records"), True)
        else:
            print(frame.to_string(index=False))
        return
    summary = lut.summary()
    result = {"lut": args.lut, "rows": len(lut), "hash": lut.content_hash(),
              "summary": summary.to_dict(orient="records")}
    emit(result, args.json, lambda r: (print(summary.to_string(index=False)),
                                         print(f"{r['rows']} rows, hash {r['hash']}")))


def _fit(args) -> None:
    from lut_store import Predictor, write_predictor
    lut = Lut.read(args.lut).measured()
    if not len(lut):
        raise InputError(f"{args.lut}: no measured rows to fit a predictor to")
    # The boards' cores decide who lends to whom; a board without a definition fits on its own.
    predictor = Predictor.fit(lut, [load_mcu(m) for m in lut.mcus if m in set(list_mcus())])
    url = write_predictor(args.lut, predictor)
    result = {"predictor": url, "version": predictor.version, "mcus": lut.mcus,
              "rows": {k: int(v) for k, v in lut.frame.groupby("op").size().items()}}
    emit(result, args.json, lambda r: print(
        f"predictor {r['version']} fitted on {', '.join(r['mcus'])} ({r['rows']}) -> {r['predictor']}"))


def _eval(args) -> None:
    from lut_store import cross_validate, onboarding_error
    mcu = load_mcu(args.mcu)
    lut = Lut.read(args.lut).measured()
    if args.records is None:
        if not len(lut.for_mcu(mcu.name)):
            raise InputError(f"{args.lut}: no measured rows for {mcu.name} (import them first)")
        result = {"mode": "cross_validation", "mcu": mcu.name, "op": args.op,
                  **cross_validate(lut, mcu, folds=args.cv, seed=args.seed, op=args.op)}
    else:
        new, _ = import_records(args.records, mcu.name)
        donors = Lut(lut.frame[lut.frame["mcu"] != mcu.name])
        if not len(donors):
            raise InputError(f"{args.lut}: no measured rows of other boards to learn from")
        result = {"mode": "onboarding", "mcu": mcu.name, "op": args.op,
                  **onboarding_error(donors, new.measured(), mcu, calibration=args.calibration,
                                     seed=args.seed, op=args.op,
                                     mcus=[load_mcu(m) for m in donors.mcus if m in set(list_mcus())])}

    def human(r):
        print(f"{r['mode']} on {r['mcu']} ({r['op']}): median {100 * r['median_rel_error']:.2f} %, "
              f"p90 {100 * r['p90_rel_error']:.2f} % over {r['n_eval']} configurations")
    emit(result, args.json, human)


def _cost(args) -> None:
    from lut_store import LatencyModel, price_model
    mcu = load_mcu(args.mcu)
    path = Path(args.model)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    report = price_model(data, LatencyModel.open(args.lut, mcu), source=str(path),
                         use_tflm=not args.no_tflm)

    def human(r):
        print(f"{path.name} on {r['mcu']}: {r['latency_ms']:.3f} ms "
              f"({r['kernel_cycles']:.0f} kernel + {r['overhead_cycles']:.0f} overhead cycles)")
        for op in r["ops"]:
            flag = "" if op["source"] == "measured" else "  (predicted)"
            print(f"  {op['index']:>3} {op['op']:<12} {op['input_shape']!s:<18} -> "
                  f"{op['output_shape']!s:<18} {op['cycles']:>10.0f}{flag}")
        print(f"peak activations {r['peak_activation_bytes']} B, TFLM planner head "
              f"{r['planned_arena_head_bytes']} B, flash {r['flash_bytes']} B")
        if r.get("tflm_arena_head_bytes") is not None:
            print(f"TFLM interpreter arena: head {r['tflm_arena_head_bytes']} B, "
                  f"total {r['tflm_arena_total_bytes']} B")
        if r["unmeasured_ops"]:
            print(f"{r['unmeasured_ops']} ops were predicted, not measured", file=sys.stderr)
    emit(report, args.json, human)
