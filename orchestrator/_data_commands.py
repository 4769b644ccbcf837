"""`micronas data inspect`: what a search would be given from a data set — channels, window,
splits, classes, subjects — without running anything or writing anything (not even the cache)."""

from __future__ import annotations


def register(sub) -> None:
    from ._search_commands import _protocol_option

    p = sub.add_parser("data", help="look at a data set or a data file before searching on it")
    verbs = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))
    verbs.required = True
    q = verbs.add_parser("inspect", help="channels, window length, windows per split, classes and "
                                         "subjects per split, as a search would load them")
    q.add_argument("source", metavar="FILE_OR_NAME",
                   help="a known name (ucihar, hapt12, ...) or a data file or folder")
    q.add_argument("--seed", type=int, default=0, help="split seed (as `search --seed`)")
    _protocol_option(q)
    q.add_argument("--json", action="store_true", help="print the summary as JSON")
    q.set_defaults(run=_inspect)


def _inspect(args) -> int:
    from search_core.data import load_dataset

    from ._search_commands import _data_options
    from .cli import emit

    data = load_dataset(args.source, seed=args.seed, cache="read", **_data_options(args))
    from search_core.data import sensor_groups
    summary = {"source": args.source, **data.summary(),
               "sensors": {k: len(v) for k, v in sensor_groups(data.channels).items()}}
    emit(summary, args.json, _print)
    return 0


def _print(s: dict) -> None:
    rate = s["sample_rate_hz"]
    seconds = f", {s['window'] / rate:.3g} s at {rate:g} Hz" if rate else ""
    info = s["info"]
    print(f"{s['name']}: {info.get('source', s['source'])}")
    print(f"  channels ({s['n_channels']}): {', '.join(s['channels'])}")
    if s["sensors"]:
        print("  sensors: " + ", ".join(f"{k} ({n} channels)" for k, n in s["sensors"].items()))
    if "front_end" in info:
        print(f"  front end: {info['front_end']}")
    print(f"  window: {s['window']} samples{seconds}")
    if "windowing" in info:
        print(f"    {info['windowing']}")
    print(f"  protocol: {s['protocol']}")
    for key in ("split_test", "split_val"):
        if key in info:
            print(f"    {key[6:]}: {info[key]}")
    print(f"  classes ({s['n_classes']}): {', '.join(s['classes'])}")
    header = ["split", "windows", "subjects", *s["classes"]]
    rows = []
    for which, part in s["splits"].items():
        subjects = part["subjects"]
        rows.append([which, str(part["windows"]), "-" if subjects is None else str(len(subjects)),
                     *(str(part["class_counts"][c]) for c in s["classes"])])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("    " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths))))
    for which, part in s["splits"].items():
        if part["subjects"] is not None:
            print(f"  {which} subjects: {', '.join(map(str, part['subjects']))}")
    for key in ("subjects", "time", "split_given", "null_class", "preprocessing"):
        if key in info:
            print(f"  {key.replace('_', ' ')}: {info[key]}")
