"""`micronas status`: how far a sweep has got, read from its results store alone.

For a sweep running elsewhere (a cluster, a colleague's machine): no Ray, no connection to the
sweep's driver, only the storage URL. What the store holds and what it says:

    sweeps/<name>/spec.json   the sweep's spec, written when it starts: its grid points and how
                              many trials each gets (`SweepSpec.trials_at`)
    results/…                 one row per finished trial (orchestrator/_store.py): done, or
                              failed (`FAILED_STATUSES`); `infeasible` rows mark the points
                              that no network can meet (they get no trials)
    tune/<name>/<trial>/      Tune's folder of every trial it has started (params.json: the
                              trial's point; result.json: one line per report, the last one
                              with its stage). A trial with a folder and no row yet is running;
                              so is one whose failed row is older than its last report (Tune
                              retried it from its checkpoint).

Pending is what is left of each point's trials. A sweep whose driver died shows its trials
as pending (or running, for those it was running) until it is resumed: `last activity` says how
long ago anything was reported.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from lut_store import InputError, storage

COUNTS = ("done", "running", "failed", "pending")
# Tune names a trial's folder "<trainable>_<trial id>_<index>_<tag>_<date>"; ids are 8 hex digits.
_TRIAL_DIR = re.compile(r"_([0-9a-f]{8})_\d+_")


def register(sub) -> None:
    p = sub.add_parser("status", help="how far the sweeps of a store have got: trials done, "
                                      "running, failed and pending per grid point (from the "
                                      "store alone; no Ray needed)")
    p.add_argument("--storage", required=True, help="results store URL (folder or s3://bucket/prefix)")
    p.add_argument("--sweep", help="only this sweep (default: every sweep of the store)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(run=_status)


def _status(args) -> None:
    from .cli import emit

    names = sweep_names(args.storage)
    if args.sweep is not None:
        if args.sweep not in names:
            raise InputError(f"{args.storage}: no sweep named {args.sweep!r} "
                             f"(sweeps here: {', '.join(names)})")
        names = [args.sweep]
    status = {"storage": args.storage, "sweeps": [sweep_status(args.storage, n) for n in names]}
    emit(status, args.json, _print)


def sweep_names(url: str) -> list[str]:
    """The sweeps a store has seen (each wrote its spec when it started)."""
    from ._store import ResultsStore

    root = ResultsStore(url).url   # an unsupported URL: one line here
    if not storage.exists(root):
        raise InputError(f"{url}: not found (no results store there)")
    base = storage.join(root, "sweeps")
    if not storage.exists(base):
        raise InputError(f"{url}: no sweep has run in this store (no sweeps/ folder)")
    names = sorted(f[len(base) + 1:].split("/")[0] for f in storage.find_files(base, "spec.json")
                   if f[len(base) + 1:].count("/") == 1)
    if not names:
        raise InputError(f"{url}: no sweep has run in this store (sweeps/ holds no spec.json)")
    return names


def sweep_status(url: str, name: str) -> dict:
    """Per grid point and in all: trials done, running, failed and pending."""
    from dataclasses import replace

    import pandas as pd

    from ._store import FAILED_STATUSES, ResultsStore
    from ._sweep import Sweep

    spec = _stored_spec(url, name)
    # The store as the user names it (its record may name it by another path or mount).
    sweep = Sweep(replace(spec, storage=url))
    rows = ResultsStore(url).read(sweep=name, dry=True)
    infeasible = {r["point"]: r["reason"] for _, r in rows[rows["status"] == "infeasible"].iterrows()}
    rows = rows[rows["status"] != "infeasible"]
    row_of = {r["trial_key"]: r for _, r in rows.iterrows()}
    started = _started_trials(storage.join(sweep.tune_url, name))
    last = [r for r in rows["finished_at"].dropna()] + \
           [datetime.fromtimestamp(t["reported_at"], UTC) for t in started if t["reported_at"]]

    points, running = [], {}
    for trial in started:
        row = row_of.get(f"{name}/{trial['id']}")
        retried = row is not None and row["status"] == "failed" and trial["reported_at"] and \
            pd.notna(row["finished_at"]) and trial["reported_at"] > row["finished_at"].timestamp()
        if row is None or retried:
            running.setdefault(trial["point"], []).append(trial)
    for point in spec.points():
        key = point.key
        mine = rows[rows["point"] == key]
        failed = int(mine["status"].isin(FAILED_STATUSES).sum())
        # `retrain: best`: the retraining of the point's best trial is one more row.
        trials = spec.trials_at(point) + int(spec.retrains_best(point.method))
        entry = {"point": key, "trials": 0 if key in infeasible else trials,
                 "done": len(mine) - failed, "failed": failed,
                 "running": len(running.get(key, [])),
                 "running_stages": [t["stage"] for t in running.get(key, [])],
                 "infeasible": infeasible.get(key)}
        # A retried trial's failed row is still there while it runs again: count it once.
        retrying = sum(1 for t in running.get(key, []) if f"{name}/{t['id']}" in row_of)
        entry["failed"] -= retrying
        entry["pending"] = max(entry["trials"] - entry["done"] - entry["failed"]
                               - entry["running"], 0)
        points.append(entry)
    totals = {k: sum(p[k] for p in points) for k in ("trials", *COUNTS)}
    return {"sweep": name, **totals, "infeasible_points": len(infeasible),
            "last_activity": max(last).isoformat() if last else None, "points": points}


def _stored_spec(url: str, name: str):
    """The spec a sweep started with, from its record (not parsed again: its data set files
    and boards need not exist where the status is read)."""
    from dataclasses import fields

    from ._spec import OptunaSettings, SweepSpec

    where = storage.join(url.rstrip("/"), "sweeps", name, "spec.json")   # as Sweep._spec_url
    try:
        doc = json.loads(storage.read_bytes(where))["spec"]
        known = {f.name for f in fields(SweepSpec)}
        d = {k: v for k, v in doc.items() if k in known}
        if "method" in doc and "methods" in known and "methods" not in doc:   # an older record
            d["methods"] = (doc["method"],)
        for key in ("datasets", "mcus", "seeds", "methods"):
            if key in d:
                d[key] = tuple(d[key])
        d["budgets"] = tuple(tuple(b) for b in d["budgets"])
        if d.get("optuna"):
            names = {f.name for f in fields(OptunaSettings)}
            d["optuna"] = OptunaSettings(**{k: v for k, v in d["optuna"].items() if k in names})
        spec = SweepSpec(**d)
        spec.points()
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"{where}: not a sweep's spec record") from None
    return spec


def _started_trials(tune_url: str) -> list[dict]:
    """Every trial Tune has started for the sweep: id, grid point, last stage and report time."""
    from ._spec import Point

    base = tune_url.rstrip("/")
    out = []
    for params in storage.find_files(base, "params.json"):
        folder = params[:-len("/params.json")]
        rel = folder[len(base) + 1:]
        match = _TRIAL_DIR.search(rel)
        if "/" in rel or match is None:
            continue   # a file of a checkpoint, not a trial's own folder
        try:
            config = json.loads(storage.read_bytes(params))
            point = Point(**config["point"]).key
        except (ValueError, KeyError, TypeError):
            continue   # being written: the next look will see it
        last = _last_report(storage.join(folder, "result.json"))
        out.append({"id": match.group(1), "point": point, "stage": last.get("stage"),
                    "reported_at": last.get("timestamp")})
    return out


def _last_report(url: str) -> dict:
    try:
        lines = storage.read_bytes(url).decode("utf-8", "replace").strip().splitlines()
        return json.loads(lines[-1]) if lines else {}
    except (InputError, ValueError):
        return {}   # no report yet


def _ago(iso: str | None) -> str:
    if iso is None:
        return "no trial has reported yet"
    seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    return f"last activity {max(seconds, 0) / 60:.0f} min ago" if seconds < 5400 else \
        f"last activity {seconds / 3600:.1f} h ago"


def _print(status: dict) -> None:
    for s in status["sweeps"]:
        infeasible = (f", {s['infeasible_points']} infeasible point(s)"
                      if s["infeasible_points"] else "")
        print(f"sweep {s['sweep']}: {s['done']} of {s['trials']} trials done, {s['running']} "
              f"running, {s['failed']} failed, {s['pending']} pending{infeasible}; "
              f"{_ago(s['last_activity'])}")
        width = max(len(p["point"]) for p in s["points"]) if s["points"] else 10
        print(f"  {'grid point':<{width}}  {'done':>4} {'running':>7} {'failed':>6} {'pending':>7}")
        for p in s["points"]:
            if p["infeasible"] is not None:
                print(f"  {p['point']:<{width}}  infeasible: {p['infeasible'][:100]}")
                continue
            stages = [st for st in p["running_stages"] if st]
            print(f"  {p['point']:<{width}}  {p['done']:>4} {p['running']:>7} {p['failed']:>6} "
                  f"{p['pending']:>7}" + (f"  (running: {', '.join(stages)})" if stages else ""))
