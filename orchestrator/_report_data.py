"""What the report shows, gathered from a `ParetoFront`: the reference points, the front table, the
summary, and everything the page's template needs per data set and board (counts, tables as
records, the bundle links, the cost-agreement statistics, the plots). No HTML here: the page is
`templates/report.html.j2`, rendered by `_report_page`.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

from lut_store import InputError, storage

from . import _report_plots as plots
from ._pareto import ParetoFront

MEMBERS_OPEN = 30  # longer fronts start folded
EXCLUDED_LISTED = 200  # per section; the grouped counts above the list cover every trial


def load_reference(path: str | Path) -> list[dict]:
    """Reference points from a YAML file (format: see orchestrator/reference/paper.yaml)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read reference points ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise InputError(f"{path}: expected a mapping with a list under 'points'")
    source = str(data.get("source") or path.stem)
    points = []
    for i, item in enumerate(data["points"]):
        where = f"{path}: points[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a mapping")
        for key in ("dataset", "mcu"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise InputError(f"{where}: '{key}' must be a non-empty string")
        point = {"label": str(item.get("label") or source), "source": source,
                 "dataset": item["dataset"], "mcu": item["mcu"]}
        for key in ("latency_ms", "memory_kb", "accuracy", "macro_f1"):
            value = item.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not np.isfinite(value) or value < 0):
                raise InputError(f"{where}: '{key}' must be a non-negative number, got {value!r}")
            point[key] = None if value is None else float(value)
        for key in ("accuracy", "macro_f1"):
            if point[key] is not None and point[key] > 100:
                raise InputError(f"{where}: '{key}' is in percent (0-100), got {point[key]:g}")
        if point["latency_ms"] is None and point["memory_kb"] is None:
            raise InputError(f"{where}: needs 'latency_ms' or 'memory_kb' to be placed on a plot")
        if point["accuracy"] is None and point["macro_f1"] is None:
            raise InputError(f"{where}: needs 'accuracy' or 'macro_f1' (percent)")
        points.append(point)
    return points


# --- the files beside the page ----------------------------------------------------------------

def front_table(front: ParetoFront) -> pd.DataFrame:
    """Every front member, as front.csv and front.parquet hold them."""
    table = front.front.drop(columns=["model", "on_front"])
    table.insert(3, "metric_name", front.metric)
    table["trial_keys"] = table["trial_keys"].map(" ".join)
    return table


def summary(front: ParetoFront, best: pd.DataFrame, out: str, seconds: float) -> dict:
    """What `micronas report --json` prints."""
    return {
        "report": storage.join(out, "index.html"),
        "front_csv": storage.join(out, "front.csv"),
        "front_parquet": storage.join(out, "front.parquet"),
        "metric": front.metric,
        "rows": len(front.rows),
        "excluded_trials": len(front.excluded),
        "float_fallbacks": front.float_fallbacks,
        "models": len(front.models),
        "front_models": int(front.models["on_front"].sum()),
        "fronts": _records(front.hypervolume),
        "budgets": _records(best[["dataset", "mcu", "lat_budget_ms", "mem_budget_kb",
                                  "power_budget_mw", "found",
                                  "method", "metric", "latency_ms", "memory_bytes",
                                  "trial_key"]]),
        "seconds": round(seconds, 3),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


class Links:
    """Where a trial's bundle is, as the page should link it: relative when the store and the
    report are both on this disk (the pair can then be moved or zipped together)."""

    def __init__(self, store, out: str):
        self.store = store
        store_fs, _ = storage.filesystem(store.url)
        out_fs, out_path = storage.filesystem(out)
        self.local = storage.is_local(store_fs) and storage.is_local(out_fs)
        self.out = os.path.abspath(out_path)

    def __call__(self, artifacts, trial_key: str) -> tuple[str, str | None]:
        """(text to show, href or None)."""
        url = artifacts if isinstance(artifacts, str) and artifacts else \
            self.store.artifacts_url(trial_key)
        if not self.local:
            return url, None
        _, path = storage.filesystem(url)
        if not os.path.isdir(path):
            return "missing", None
        rel = os.path.relpath(os.path.abspath(path), self.out)
        return "bundle", urllib.parse.quote(rel.replace(os.sep, "/")) + "/"


# --- the page's content -----------------------------------------------------------------------

def page_context(front: ParetoFront, budgets: pd.DataFrame, points: list[dict], store_url: str,
                 links: Links, sweep: str | None, generated: str) -> dict:
    """Everything `templates/report.html.j2` shows, in the order it shows it."""
    return {"store_url": store_url, "sweep": sweep, "trials": len(front.rows),
            "generated": generated, "label": front.metric_label, "flash_objective": front.flash,
            "notes": _notes(front), "overview": _overview(front),
            "sections": [_section(front, budgets, dataset, mcu, points, links)
                         for dataset, mcu in front.groups]}


def anchor(dataset: str, mcu: str) -> str:
    return urllib.parse.quote(f"{dataset}--{mcu}", safe="")


def _notes(front: ParetoFront) -> dict:
    feasible_rows = front.rows.loc[~front.rows.index.isin(front.excluded.index),
                                   ["latency_source", "memory_source"]]
    return {"feasible": len(front.rows) - len(front.excluded),
            "float_fallbacks": front.float_fallbacks,
            "estimated": int((feasible_rows == "estimated").any(axis=1).sum())}


def _overview(front: ParetoFront) -> dict:
    rows = front.rows
    counts = rows.groupby(["dataset", "mcu", "method"]).agg(
        trials=("trial_key", "size"), ok=("status", lambda s: int((s == "ok").sum())))
    hv = front.hypervolume.set_index(["dataset", "mcu", "method"])
    best = front.models.groupby(["dataset", "mcu", "method"])["metric"].max()
    table = []
    for (dataset, mcu, method), c in counts.iterrows():
        key = (dataset, mcu, method)
        h = hv.loc[key] if key in hv.index else None
        table.append({"anchor": anchor(dataset, mcu), "dataset": dataset, "mcu": mcu,
                      "method": method, "trials": c["trials"], "ok": c["ok"],
                      "models": None if h is None else int(h["models"]),
                      "front": None if h is None else int(h["front"]),
                      "hypervolume": None if h is None else float(h["hypervolume"]),
                      "best": best.get(key)})
    return {"groups": [{"anchor": anchor(d, m), "dataset": d, "mcu": m} for d, m in front.groups],
            "rows": table}


def _section(front: ParetoFront, budgets: pd.DataFrame, dataset: str, mcu: str,
             points: list[dict], links: Links) -> dict:
    in_group = lambda f: f[(f["dataset"] == dataset) & (f["mcu"] == mcu)]  # noqa: E731
    models = in_group(front.models)
    rows = in_group(front.rows)
    excluded = in_group(front.excluded)
    budgets = in_group(budgets)
    refs = [p for p in points if p["dataset"] == dataset and p["mcu"] == mcu]
    drawn = [p for p in refs if p.get(front.metric) is not None]
    return {"anchor": anchor(dataset, mcu), "dataset": dataset, "mcu": mcu, "trials": len(rows),
            "models": len(models), "on_front": int(models["on_front"].sum()),
            "excluded_count": len(excluded), "undrawn_refs": len(refs) - len(drawn),
            "tradeoff_plot": plots.tradeoff_plot(front, models, budgets, drawn) if len(models) else None,
            "budgets": _budget_rows(budgets, links),
            "members": _members(front, models[models["on_front"]], links),
            "agreement": _agreement(rows),
            "excluded": _excluded(excluded)}


def _budget_rows(budgets: pd.DataFrame, links: Links) -> list[dict]:
    out = []
    for r in budgets.to_dict("records"):
        if r["found"]:
            r["link"] = links(r["artifacts"], r["trial_key"])
        out.append(r)
    return out


def _members(front: ParetoFront, members: pd.DataFrame, links: Links) -> dict | None:
    if members.empty:
        return None
    records = []
    on_target = _on_target(front.rows)
    for r in members.sort_values(["method", "latency_ms", "memory_bytes"]).to_dict("records"):
        r["target"] = on_target.get(r["trial_key"], "")
        # One link per seed; the best seed's row carries the URL its trial recorded.
        r["bundles"] = [(links(r["artifacts"] if key == r["trial_key"] else None, key), key, seed)
                        for seed, key in zip(r["seeds"].split(), r["trial_keys"])]
        r["architecture"] = r["architecture_json"] if isinstance(r["architecture_json"], str) else ""
        records.append(r)
    return {"count": len(members), "folded": len(members) > MEMBERS_OPEN,
            "flash": front.flash or members["flash_bytes"].notna().any(),
            "front_end": (members["front_end_text"] != "").any(),
            "energy": members["power_mw"].notna().any(),
            "target": any(r["target"] for r in records), "rows": records}


def _on_target(rows: pd.DataFrame) -> dict[str, str]:
    """trial_key -> one line of the optional target step's figures (the best seed's trial)."""
    if "target" not in rows.columns:
        return {}
    lines = {}
    for r in rows[rows["target"].notna()].to_dict("records"):
        if pd.isna(r.get("target_max_lsb")):
            lines[r["trial_key"]] = f"{r['target']}: did not run (see the deployment's failures)"
            continue
        ticks = r.get("target_emulator_ticks_per_invoke")
        lines[r["trial_key"]] = (
            f"{r['target']}: arena head {int(r['target_arena_head_bytes'])} B, "
            f"{100 * r['target_bit_identical_share']:.0f} % bit-identical, "
            f"max {int(r['target_max_lsb'])} LSB, flash {r['target_flash_bytes'] / 1024:.1f} KB"
            + ("" if pd.isna(ticks) else f", {ticks:.0f} emulator ticks/invoke"))
    return lines


def _agreement(rows: pd.DataFrame) -> dict:
    """How well the search's cost estimates matched the exported models' verified costs."""
    ok = rows[rows["status"] == "ok"]
    pairs = {"latency": (ok["estimated_latency_ms"], ok["verified_latency_ms"].astype("float64"), "ms"),
             "peak memory": (ok["estimated_memory_bytes"] / 1024,
                             ok["verified_memory_bytes"].astype("float64") / 1024, "KB")}
    stats = []
    for name, (est, ver, _) in pairs.items():
        both = est.notna() & ver.notna() & (ver > 0)
        if not both.any():
            stats.append({"name": name, "trials": 0})
            continue
        err = ((est[both] - ver[both]) / ver[both]).to_numpy()
        stats.append({"name": name, "trials": int(both.sum()),
                      "median": 100 * np.median(np.abs(err)),
                      "p90": 100 * np.quantile(np.abs(err), 0.9),
                      "max": 100 * np.abs(err).max(), "below": 100 * np.mean(err < 0)})
    drawn = any(est.notna().any() and ver.notna().any() for est, ver, _ in pairs.values())
    return {"stats": stats, "plot": plots.agreement_plot(ok, pairs) if drawn else None}


def _excluded(excluded: pd.DataFrame) -> dict:
    if excluded.empty:
        return {"count": 0}
    keys = ["method", "status", "why"]
    grouped = excluded.groupby(keys, dropna=False).size().rename("trials").to_frame()
    grouped["examples"] = (excluded.groupby(keys, dropna=False).head(3)
                           .groupby(keys, dropna=False)["trial_key"].agg(", ".join))
    grouped = grouped.reset_index().sort_values("trials", ascending=False)
    listed = excluded.head(EXCLUDED_LISTED)
    return {"count": len(excluded), "grouped": grouped.to_dict("records"),
            "listed": listed.to_dict("records"),
            "truncated": len(excluded) > len(listed)}
