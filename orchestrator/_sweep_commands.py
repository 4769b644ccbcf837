"""`micronas sweep` (run or resume a sweep spec on Ray Tune) and `micronas results` (the table)."""

from __future__ import annotations

from pathlib import Path

from lut_store import InputError

from ._store import exit_code

# What `micronas results` shows by default: enough to choose a model; --all for every column.
SHOWN = ["dataset", "mcu", "lat_budget_ms", "mem_budget_kb", "seed", "optuna_trial", "status",
         "latency_ms", "peak_memory_bytes", "verified_latency_ms", "verified_memory_bytes",
         "val_accuracy", "test_accuracy", "int8_accuracy", "int8_macro_f1", "constraint", "wall_s"]


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run (or resume) a sweep spec: data sets x boards x budgets "
                                     "x seeds as Ray Tune trials, Optuna tuning the loss weights")
    p.add_argument("spec", help="sweep spec (YAML), e.g. examples/quickstart.yaml")
    p.add_argument("--check", action="store_true",
                   help="validate the spec, storage, LUTs and data sets; run nothing")
    p.add_argument("--resume", action="store_true",
                   help="insist on resuming an earlier run of this sweep (a plain run resumes one "
                        "anyway; with --resume, finding none is an error)")
    p.add_argument("--verbose", action="store_true",
                   help="Ray Tune's status tables as well (by default: one line per finished "
                        "trial and a progress bar)")
    p.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                   help="no progress bar, only the trial lines")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_sweep)

    p = sub.add_parser("results", help="the results table of a store: one row per trial")
    p.add_argument("--storage", required=True, help="results store URL (folder or s3://bucket/prefix)")
    p.add_argument("--sweep", help="only this sweep's rows")
    p.add_argument("--dataset")
    p.add_argument("--mcu")
    p.add_argument("--out", help="write the table to FILE.csv or FILE.parquet instead of printing")
    p.add_argument("--all", action="store_true", help="every column, not just the main ones")
    p.add_argument("--json", action="store_true", help="rows as JSON records")
    p.add_argument("--compact", action="store_true",
                   help="merge each partition's row files into one (reads then take one request "
                        "per partition, not one per trial); prints what was merged")
    p.set_defaults(run=_results)


def _sweep(args) -> int:
    from ._spec import load_spec
    from ._sweep import Sweep
    from .cli import emit

    spec = load_spec(args.spec)
    sweep = Sweep(spec)
    if args.resume and not sweep.started():
        raise InputError(f"sweep {spec.name!r} has never run in {spec.storage}: nothing to resume")
    plan = sweep.check()
    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    tuned = f"{spec.trials_per_point} trial(s){' (Optuna)' if spec.optuna else ''}"
    trials = f"{len(plan.runnable)} grid points x {tuned}" if len(spec.methods) == 1 else (
        f"{len(plan.runnable)} grid points of {', '.join(spec.methods)}, "
        f"{spec.trial_count(plan.runnable)} trials ({tuned} per micronas point, 1 per baseline "
        f"point)")
    say(f"sweep {spec.name}: {trials}, {len(plan.infeasible)} infeasible; "
        f"results in {spec.storage}")
    for note in plan.notes:
        say(f"note: {note}")
    if args.check:
        emit({"sweep": spec.name, "runnable": [p.key for p in plan.runnable],
              "infeasible": {p.key: r for p, r in plan.infeasible},
              "trials": spec.trial_count(plan.runnable)}, args.json,
             lambda r: print(f"spec ok: {r['trials']} trials would run"))
        return 0
    summary = sweep.run(plan, verbose=1 if args.verbose and not args.json else 0, say=say,
                        bar=not (args.no_progress or args.verbose or args.json))

    def human(s):
        print(f"\nsweep {s['sweep']}: {s['rows']} rows in {s['storage']} "
              f"({', '.join(f'{n} {k}' for k, n in s['status'].items())})"
              + (f" in {s['wall_s'] / 60:.1f} min" if s["wall_s"] else ""))
        for key, best in s["best"].items():
            st = s["studies"].get(key)
            tuned = (f"; Optuna: {st['complete']} trials, {st['infeasible']} infeasible"
                     if st else "")
            print(f"  {key}: best feasible trial {best or '- (none feasible)'}{tuned}")
        o = s["objective"]
        rho = (f"Spearman rho with test accuracy {o['spearman_pooled']} over {o['trials']} "
               f"trials" if o["spearman_pooled"] is not None else "too few trials for a rank "
               "correlation")
        print(f"  objective {o['name']}: at most {o['max_ties']} tied trial(s) per point; {rho}")
        print(f"  table: micronas results --storage {s['storage']} --sweep {s['sweep']}")
        if s.get("optuna_storage"):
            from ._optuna import load_study_hint, study_name
            print(f"  Optuna studies: {s['optuna_storage']} (one per grid point, named "
                  f"{s['sweep']}/<point>); open them with: {s['optuna_dashboard']}")
            for key in list(s["studies"])[:1]:
                name = study_name(s["sweep"], key)
                print(f"  in Python: {load_study_hint(s['optuna_storage'], name)}")
        elif spec.optuna:
            print(f"  Optuna studies: not in an Optuna storage (a remote store without "
                  f"optuna.storage, or a sweep started before studies were stored); as tables "
                  f"in {sweep.studies_url}")
    emit(summary, args.json, human)
    return exit_code(summary["status"])   # 1 when a trial failed or failed its deployment


def _results(args) -> None:
    from ._store import ResultsStore
    from .cli import emit

    if args.compact:
        done = ResultsStore(args.storage).compact(at_least=1)
        if args.json:
            emit(done, True)
        else:
            print(f"{done['files_merged']} row files merged into {done['partitions']} "
                  f"partition files ({done['rows']} rows) in {args.storage}")
        return
    df = ResultsStore(args.storage).read(sweep=args.sweep, dataset=args.dataset, mcu=args.mcu)
    if not args.all:
        df = df[SHOWN + ["trial_key"]]
    if args.out:
        out = Path(args.out)
        if out.suffix not in (".csv", ".parquet"):
            raise InputError(f"{out}: --out must end in .csv or .parquet")
        import io

        from lut_store import storage
        if out.suffix == ".csv":
            data = df.to_csv(index=False).encode()
        else:
            buffer = io.BytesIO()
            df.to_parquet(buffer, index=False)
            data = buffer.getvalue()
        storage.write_bytes(str(out), data)   # atomic; a refused write is one clear line
        print(f"{len(df)} rows -> {out}")
        return
    if args.json:
        emit(df.to_dict(orient="records"), True)
        return
    if df.empty:
        print(f"no results in {args.storage}")
        return
    import pandas as pd
    with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 220):
        print(df.to_string(index=False))
