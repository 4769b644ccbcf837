"""`micronas report`: Pareto fronts of a results store as a self-contained HTML page."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="Pareto fronts of a results store: an HTML page, CSV and Parquet")
    p.add_argument("--storage", required=True,
                   help="results store URL (local folder or s3://bucket/prefix)")
    p.add_argument("--out", required=True, help="folder to write index.html, front.csv, front.parquet")
    p.add_argument("--metric", choices=["macro_f1", "accuracy"], default="macro_f1",
                   help="int8 test metric to trade off (default macro_f1)")
    p.add_argument("--reference", default="paper",
                   help="YAML of reference points to overlay; 'paper' (default) for the MicroNAS "
                        "paper's published points, 'none' for no overlay")
    p.add_argument("--flash", action="store_true", help="flash size as a fourth objective")
    p.add_argument("--sweep", help="only the rows of this sweep")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_report)


def _report(args) -> None:
    from ._report import PAPER_REFERENCE, build_report
    from .cli import emit

    reference = {"paper": PAPER_REFERENCE, "none": None}.get(args.reference, args.reference)
    summary = build_report(args.storage, args.out, metric=args.metric, reference=reference,
                           flash=args.flash, sweep=args.sweep)

    def human(s):
        print(f"report {s['report']}: {s['rows']} trials, {s['models']} feasible models, "
              f"{s['front_models']} on the fronts ({s['seconds']:.1f} s)")
        for f in s["fronts"]:
            print(f"  {f['dataset']:<14} {f['mcu']:<17} {f['method']:<9} front {f['front']:>4} of "
                  f"{f['models']:>5} models  hypervolume {f['hypervolume']:.4f}")
        if s["float_fallbacks"]:
            print(f"  {s['float_fallbacks']} feasible trials have no int8 figure: their float "
                  f"{args.metric} is used")
    emit(summary, args.json, human)
