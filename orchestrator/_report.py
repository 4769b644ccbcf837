"""The sweep report: one static HTML page per results store that answers "which model do I flash?".

The page must open anywhere — a laptop without network, a CI artifact, a mail attachment — so it
carries everything inline: CSS in the head, plots as SVG images in data URIs (matplotlib draws text
as paths, so no font is needed either) and no script at all. The front is written beside it as
CSV and Parquet for anyone who wants to compute with it.

Every file of the report is rendered in memory first and written whole (atomically per file, the
page last), so a failure leaves either the previous report or none, never half of one.
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from lut_store import InputError, storage

from ._pareto import ParetoFront, non_dominated

PAPER_REFERENCE = Path(__file__).with_name("reference") / "paper.yaml"
FILES = ("front.csv", "front.parquet", "index.html")  # the page last: it is the entry point
_MARKERS = {"micronas": "o", "darts": "s", "random": "^"}
_MORE_MARKERS = "DvP*Xh<>p"
_MEMBERS_OPEN = 30  # longer fronts start folded
_EXCLUDED_LISTED = 200  # per section; the grouped counts above the list cover every trial


def build_report(storage_url: str, out: str, *, metric: str = "macro_f1",
                 reference: str | Path | None = PAPER_REFERENCE, flash: bool = False,
                 sweep: str | None = None) -> dict:
    """Read a results store, write `index.html`, `front.csv` and `front.parquet` into `out`, and
    return a summary (what `micronas report --json` prints)."""
    from ._store import ResultsStore

    started = time.perf_counter()
    store = ResultsStore(storage_url)
    points = load_reference(reference) if reference is not None else []
    rows = store.read(sweep=sweep)
    if rows.empty:
        where = f" for sweep {sweep!r}" if sweep else ""
        raise InputError(f"{storage_url}: no trial rows in the results store{where} (nothing to report)")
    front = ParetoFront(rows, metric=metric, flash=flash)
    budgets = front.budgets()
    out = out.rstrip("/") or out
    links = _Links(store, out)
    table = _front_table(front)
    files = {"front.csv": table.to_csv(index=False).encode(),
             "front.parquet": _parquet(table),
             "index.html": _page(front, budgets, points, store.url, links, sweep).encode()}
    for name in FILES:
        storage.write_bytes(storage.join(out, name), files[name])
    return _summary(front, budgets, out, time.perf_counter() - started)


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


# --- files ------------------------------------------------------------------------------------

def _front_table(front: ParetoFront) -> pd.DataFrame:
    table = front.front.drop(columns=["model", "on_front"])
    table.insert(3, "metric_name", front.metric)
    table["trial_keys"] = table["trial_keys"].map(" ".join)
    return table


def _parquet(table: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), sink, compression="zstd")
    return sink.getvalue()


def _summary(front: ParetoFront, best: pd.DataFrame, out: str, seconds: float) -> dict:
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
        "budgets": _records(best[["dataset", "mcu", "lat_budget_ms", "mem_budget_kb", "found",
                                  "method", "metric", "latency_ms", "memory_bytes",
                                  "trial_key"]]),
        "seconds": round(seconds, 3),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


class _Links:
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


# --- the page ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1300px;
padding:1em 2em;color:#1d232a;background:#fff;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em}table{border-collapse:collapse;font-size:.88em;margin:.5em 0 1em}
th,td{border:1px solid #d0d7de;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#57606a;font-size:.92em}.note{background:#fff8c5;border:1px solid #e9d66b;padding:.4em .8em;
margin:.5em 0}img.plot{max-width:100%;height:auto;display:block;margin:.5em 0}
details{margin:.3em 0}summary{cursor:pointer;color:#0969da}code{font-size:.9em;word-break:break-all}
nav a{margin-right:1em;white-space:nowrap}.fail{color:#a40e26}
"""


def _page(front: ParetoFront, budgets: pd.DataFrame, points: list[dict], store_url: str, links: _Links,
          sweep: str | None) -> str:
    e = html.escape
    label = front.metric_label
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>MicroNAS sweep report</title><style>{_CSS}</style></head><body>",
             "<h1>MicroNAS sweep report: which model to flash</h1>",
             f"<p class='meta'>Results store <code>{e(store_url)}</code>"
             f"{' (sweep ' + e(sweep) + ')' if sweep else ''} · {len(front.rows)} trials · "
             f"generated {now} · metric: int8 test {e(label)}</p>"]
    parts.append(_notes(front))
    parts.append(_overview(front))
    for dataset, mcu in front.groups:
        parts.append(_section(front, budgets, dataset, mcu, points, links))
    parts.append("<h2>Files</h2><p><a href='front.csv'>front.csv</a> · "
                 "<a href='front.parquet'>front.parquet</a>: every front member of every data set "
                 "and board, with the columns of the tables above.</p></body></html>")
    return "".join(parts)


def _notes(front: ParetoFront) -> str:
    e = html.escape
    n_feasible = len(front.rows) - len(front.excluded)
    objectives = f"{front.metric_label} (higher), latency, peak memory" + \
        (", flash" if front.flash else "")
    text = [f"<p>A model is on the front when no other model of the same method, data set and board "
            f"is at least as good on every objective — {e(objectives)} — and better on one. "
            "Feasible trials only (status ok, within their budgets); trials of one architecture are "
            "one model (mean ± std over seeds, n). Latency and memory are the verified figures of "
            "the exported int8 model. Hypervolume is the share of the box between the ideal point "
            f"({e(front.metric_label)} 100 %, zero cost) and the reference point that the front "
            "dominates; the reference point is 0 % and, per cost, 1.1 × the largest value observed or "
            "budgeted on that data set and board, shared by all methods there.</p>"]
    if front.float_fallbacks:
        text.append(f"<p class='note'>{front.float_fallbacks} of {n_feasible} feasible trials have no "
                    f"int8 figure; their float test {e(front.metric_label)} is used instead (models "
                    "marked † in the tables).</p>")
    estimated = int((front.rows.loc[~front.rows.index.isin(front.excluded.index),
                                    ["latency_source", "memory_source"]] == "estimated")
                    .any(axis=1).sum())
    if estimated:
        text.append(f"<p class='note'>{estimated} of {n_feasible} feasible trials have no verified "
                    "latency or memory; the search's estimate is used (marked ‡).</p>")
    return "".join(text)


def _overview(front: ParetoFront) -> str:
    e = html.escape
    rows = front.rows
    counts = rows.groupby(["dataset", "mcu", "method"]).agg(
        trials=("trial_key", "size"), ok=("status", lambda s: int((s == "ok").sum())))
    hv = front.hypervolume.set_index(["dataset", "mcu", "method"])
    best = front.models.groupby(["dataset", "mcu", "method"])["metric"].max()
    out = ["<h2>Overview</h2><nav>"]
    for dataset, mcu in front.groups:
        out.append(f"<a href='#{_anchor(dataset, mcu)}'>{e(dataset)} · {e(mcu)}</a>")
    out.append("</nav><table><tr><th>data set</th><th>board</th><th>method</th><th>trials</th>"
               "<th>ok</th><th>models</th><th>front</th><th>hypervolume</th>"
               f"<th>best {e(front.metric_label)}</th></tr>")
    for (dataset, mcu, method), c in counts.iterrows():
        key = (dataset, mcu, method)
        h = hv.loc[key] if key in hv.index else None
        out.append(f"<tr><td><a href='#{_anchor(dataset, mcu)}'>{e(dataset)}</a></td><td>{e(mcu)}</td>"
                   f"<td>{e(method)}</td><td class='n'>{c['trials']}</td><td class='n'>{c['ok']}</td>"
                   f"<td class='n'>{'' if h is None else int(h['models'])}</td>"
                   f"<td class='n'>{'' if h is None else int(h['front'])}</td>"
                   f"<td class='n'>{'–' if h is None else format(h['hypervolume'], '.4f')}</td>"
                   f"<td class='n'>{_pct(best.get(key))}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _section(front: ParetoFront, budgets: pd.DataFrame, dataset: str, mcu: str,
             points: list[dict], links: _Links) -> str:
    e = html.escape
    label = front.metric_label
    in_group = lambda f: f[(f["dataset"] == dataset) & (f["mcu"] == mcu)]  # noqa: E731
    models = in_group(front.models)
    rows = in_group(front.rows)
    excluded = in_group(front.excluded)
    budgets = in_group(budgets)
    refs = [p for p in points if p["dataset"] == dataset and p["mcu"] == mcu]
    drawn = [p for p in refs if p.get(front.metric) is not None]
    out = [f"<h2 id='{_anchor(dataset, mcu)}'>{e(dataset)} on {e(mcu)}</h2>",
           f"<p class='meta'>{len(rows)} trials · {len(models)} feasible models · "
           f"{int(models['on_front'].sum())} on the front · {len(excluded)} failed or infeasible</p>"]
    if len(refs) > len(drawn):
        out.append(f"<p class='note'>{len(refs) - len(drawn)} reference point(s) for this data set "
                   f"and board give no {e(label)}; they are not drawn (use --metric accuracy).</p>")
    if len(models):
        out.append(f"<img class='plot' alt='{e(label)} against latency and peak memory' "
                   f"src='{_tradeoff_plot(front, models, budgets, drawn)}'>")
        out.append("<p class='meta'>Grey: feasible models off the front. Coloured: front members "
                   "(left coloured by peak memory, right by latency; marker per method); the line is "
                   "the best figure reachable at each cost on that plot alone. Dashed lines: the "
                   "sweep's budgets; ringed: the pick for a budget; stars: reference points. "
                   "The front is three-dimensional, so in each projection some members look "
                   "dominated.</p>")
    else:
        out.append("<p class='note'>No feasible model: see the failed and infeasible trials below.</p>")
    out.append(_budget_table(front, budgets, links))
    out.append(_members_table(front, models[models["on_front"]], links))
    out.append(_agreement(rows))
    out.append(_excluded_table(excluded))
    return "".join(out)


def _budget_table(front: ParetoFront, budgets: pd.DataFrame, links: _Links) -> str:
    e = html.escape
    out = [f"<h3>Best model per budget</h3><table><tr><th>latency budget</th><th>memory budget</th>"
           f"<th>method</th><th>{e(front.metric_label)}</th><th>latency ms</th><th>peak memory KB</th>"
           "<th>trial</th><th>bundle</th></tr>"]
    for r in budgets.to_dict("records"):
        head = (f"<tr><td class='n'>{_budget(r['lat_budget_ms'], 'ms')}</td>"
                f"<td class='n'>{_budget(r['mem_budget_kb'], 'KB')}</td>")
        if not r["found"]:
            out.append(head + "<td colspan='6' class='fail'>no feasible model fits</td></tr>")
            continue
        out.append(head + f"<td>{e(r['method'])}</td><td class='n'>{_metric_cell(r)}</td>"
                   f"<td class='n'>{_lat_cell(r)}</td><td class='n'>{_mem_cell(r)}</td>"
                   f"<td><code>{e(r['trial_key'])}</code></td>"
                   f"<td>{_link(links(r['artifacts'], r['trial_key']))}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _members_table(front: ParetoFront, members: pd.DataFrame, links: _Links) -> str:
    e = html.escape
    if members.empty:
        return ""
    flash = "<th>flash KB</th>" if front.flash or members["flash_bytes"].notna().any() else ""
    # A long front folds away so that the agreement and failures below stay in reach.
    fold = "" if len(members) <= _MEMBERS_OPEN else f" (click to show all {len(members)})"
    out = [f"<h3>Front members ({len(members)})</h3>",
           f"<details{' open' if not fold else ''}><summary>front members{fold}</summary>"
           "<table><tr><th>method</th>"
           f"<th>{e(front.metric_label)} (mean ± std, n)</th><th>latency ms</th><th>peak memory KB</th>"
           f"{flash}<th>found under budgets</th><th>seeds</th><th>bundles</th>"
           "<th>architecture</th></tr>"]
    members = members.sort_values(["method", "latency_ms", "memory_bytes"])
    for r in members.to_dict("records"):
        # One link per seed; the best seed's row carries the URL its trial recorded.
        bundles = " ".join(
            _link(links(r["artifacts"] if key == r["trial_key"] else None, key),
                  title=key, text=f"seed {seed}")
            for seed, key in zip(r["seeds"].split(), r["trial_keys"]))
        arch = r["architecture_json"] if isinstance(r["architecture_json"], str) else ""
        flash_cell = (f"<td class='n'>{_kb(r['flash_bytes'])}</td>" if flash else "")
        out.append(f"<tr><td>{e(r['method'])}</td><td class='n'>{_metric_cell(r, spread=True)}</td>"
                   f"<td class='n'>{_lat_cell(r)}</td><td class='n'>{_mem_cell(r)}</td>{flash_cell}"
                   f"<td>{e(r['found_under'])}</td><td>{e(r['seeds'])}</td><td>{bundles}</td>"
                   f"<td><details><summary>best: <code>{e(r['trial_key'])}</code></summary>"
                   f"<code>{e(arch)}</code></details></td></tr>")
    out.append("</table></details>")
    return "".join(out)


def _agreement(rows: pd.DataFrame) -> str:
    """How well the search's cost estimates matched the exported models' verified costs."""
    ok = rows[rows["status"] == "ok"]
    pairs = {"latency": (ok["estimated_latency_ms"], ok["verified_latency_ms"].astype("float64"), "ms"),
             "peak memory": (ok["estimated_memory_bytes"] / 1024,
                             ok["verified_memory_bytes"].astype("float64") / 1024, "KB")}
    out = ["<h3>Estimated vs verified cost</h3>"]
    stats = []
    for name, (est, ver, unit) in pairs.items():
        both = est.notna() & ver.notna() & (ver > 0)
        if not both.any():
            stats.append(f"<tr><td>{name}</td><td colspan='5'>no trial with both figures</td></tr>")
            continue
        err = ((est[both] - ver[both]) / ver[both]).to_numpy()
        stats.append(f"<tr><td>{name}</td><td class='n'>{int(both.sum())}</td>"
                     f"<td class='n'>{100 * np.median(np.abs(err)):.2f} %</td>"
                     f"<td class='n'>{100 * np.quantile(np.abs(err), 0.9):.2f} %</td>"
                     f"<td class='n'>{100 * np.abs(err).max():.2f} %</td>"
                     f"<td class='n'>{100 * np.mean(err < 0):.0f} %</td></tr>")
    out.append("<table><tr><th>cost</th><th>trials</th><th>median |error|</th><th>p90 |error|</th>"
               "<th>max |error|</th><th>estimate below verified</th></tr>" + "".join(stats) +
               "</table>")
    if any(est.notna().any() and ver.notna().any() for est, ver, _ in pairs.values()):
        out.append(f"<img class='plot' alt='estimated against verified latency and memory' "
                   f"src='{_agreement_plot(ok, pairs)}'>")
    return "".join(out)


def _excluded_table(excluded: pd.DataFrame) -> str:
    e = html.escape
    if excluded.empty:
        return "<h3>Failed and infeasible trials</h3><p>None.</p>"
    keys = ["method", "status", "why"]
    grouped = excluded.groupby(keys, dropna=False).size().rename("trials").to_frame()
    grouped["examples"] = (excluded.groupby(keys, dropna=False).head(3)
                           .groupby(keys, dropna=False)["trial_key"].agg(", ".join))
    grouped = grouped.reset_index()
    grouped = grouped.sort_values("trials", ascending=False)
    out = [f"<h3>Failed and infeasible trials ({len(excluded)})</h3><table><tr><th>method</th>"
           "<th>status</th><th>reason</th><th>trials</th><th>for example</th></tr>"]
    for r in grouped.to_dict("records"):
        out.append(f"<tr><td>{e(str(r['method']))}</td><td class='fail'>{e(str(r['status']))}</td>"
                   f"<td>{e(str(r['why']))}</td><td class='n'>{r['trials']}</td>"
                   f"<td><code>{e(r['examples'])}</code></td></tr>")
    out.append("</table>")
    listed = excluded.head(_EXCLUDED_LISTED)
    more = f" (first {len(listed)})" if len(excluded) > len(listed) else ""
    out.append(f"<details><summary>every trial{more}</summary><table><tr><th>trial</th>"
               "<th>method</th><th>status</th><th>latency budget</th><th>memory budget</th>"
               "<th>seed</th><th>reason</th></tr>")
    for r in listed.to_dict("records"):
        out.append(f"<tr><td><code>{e(str(r['trial_key']))}</code></td><td>{e(str(r['method']))}</td>"
                   f"<td>{e(str(r['status']))}</td><td class='n'>{_budget(r['lat_budget_ms'], 'ms')}</td>"
                   f"<td class='n'>{_budget(r['mem_budget_kb'], 'KB')}</td>"
                   f"<td class='n'>{'' if pd.isna(r['seed']) else r['seed']}</td>"
                   f"<td>{e(str(r['why']))}</td></tr>")
    out.append("</table></details>")
    return "".join(out)


# --- plots ------------------------------------------------------------------------------------

def _figure(width: float, height: float):
    # A bare Figure, not pyplot: no global backend or state is touched, so a report can be built
    # inside any process (a notebook, a Ray driver) without changing how it plots. Fixed margins
    # rather than a layout engine: constrained layout was a third of the report's time.
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=.06, right=.97, bottom=.11, top=.92, wspace=.28)
    return fig


def _data_uri(fig) -> str:
    import matplotlib
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "micronas-report"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, dpi=120)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _marker(method: str, methods: list[str]) -> str:
    if method in _MARKERS:
        return _MARKERS[method]
    others = [m for m in methods if m not in _MARKERS]
    return _MORE_MARKERS[others.index(method) % len(_MORE_MARKERS)]


def _tradeoff_plot(front: ParetoFront, models: pd.DataFrame, budgets: pd.DataFrame,
                   refs: list[dict]) -> str:
    fig = _figure(13, 5.2)
    left, right = fig.subplots(1, 2)
    methods = sorted(models["method"].unique())
    on = models["on_front"].to_numpy(bool)
    y = 100 * models["metric"].to_numpy()
    lat = models["latency_ms"].to_numpy()
    mem = models["memory_bytes"].to_numpy() / 1024
    picks = budgets[budgets["found"]].drop_duplicates(["method", "model"])
    for ax, x, colour, cmap, cname, xlabel, budget_col, ref_key in (
            (left, lat, mem, "viridis", "peak memory (KB)", "latency (ms)", "lat_budget_ms", "latency_ms"),
            (right, mem, lat, "plasma", "latency (ms)", "peak memory (KB)", "mem_budget_kb", "memory_kb")):
        # The dense layers (hundreds of dominated models, every trial's cost pair) go in as one
        # bitmap each: as SVG elements they were most of the report's time and size.
        ax.scatter(x[~on], y[~on], s=9, c="#c4c9cf", lw=0, label="off the front", zorder=1,
                   rasterized=True)
        lo, hi = np.nanmin(colour[on]), np.nanmax(colour[on])
        scatter = None
        for method in methods:
            mine = on & (models["method"].to_numpy() == method)
            if not mine.any():
                continue
            scatter = ax.scatter(x[mine], y[mine], c=colour[mine], cmap=cmap, vmin=lo,
                                 vmax=hi if hi > lo else lo + 1, s=38, marker=_marker(method, methods),
                                 edgecolors="#333", linewidths=.4, label=f"{method} front", zorder=3)
            stairs = non_dominated(np.column_stack([x[mine], -y[mine]]))
            order = np.argsort(x[mine][stairs])
            ax.step(x[mine][stairs][order], y[mine][stairs][order], where="post", lw=1,
                    color="#555", alpha=.6, zorder=2)
        if scatter is not None:
            fig.colorbar(scatter, ax=ax, label=cname, shrink=.85)
        ymin, ymax = np.nanmin(y), np.nanmax(y)
        for value in sorted(budgets[budget_col].dropna().unique()):
            ax.axvline(value, ls="--", lw=.8, color="#8c959f", zorder=0)
            ax.annotate(f"{value:g}", (value, 1), xycoords=("data", "axes fraction"),
                        fontsize=7, color="#57606a", ha="left", va="top", rotation=90)
        if len(picks):
            px = picks["latency_ms"] if ax is left else picks["memory_bytes"] / 1024
            ax.scatter(px, 100 * picks["metric"], s=130, facecolors="none", edgecolors="#111",
                       linewidths=1.1, label="budget pick", zorder=4)
        placed = [p for p in refs if p.get(ref_key) is not None]
        for p in placed:
            value = p[front.metric]
            ax.scatter([p[ref_key]], [value], marker="*", s=220, color="#d1242f",
                       edgecolors="#5c0011", linewidths=.6, zorder=5)
            ax.annotate(p["label"], (p[ref_key], value), xytext=(6, 4), textcoords="offset points",
                        fontsize=7.5, color="#a40e26")
            ymin, ymax = min(ymin, value), max(ymax, value)
        if placed:
            ax.scatter([], [], marker="*", s=120, color="#d1242f", label="reference")
        pad = max(.5, .05 * (ymax - ymin))
        ax.set_ylim(ymin - pad, ymax + pad)
        ax.set_xlim(left=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{front.metric_label} (%)")
        ax.grid(alpha=.25)
    left.set_title(f"{front.metric_label} vs latency")
    right.set_title(f"{front.metric_label} vs peak memory")
    left.legend(fontsize=7.5, loc="lower right", framealpha=.85)
    return _data_uri(fig)


def _agreement_plot(ok: pd.DataFrame, pairs: dict) -> str:
    fig = _figure(11, 4.4)
    axes = fig.subplots(1, 2)
    methods = sorted(ok["method"].unique())
    for ax, (name, (est, ver, unit)) in zip(axes, pairs.items()):
        both = (est.notna() & ver.notna()).to_numpy(bool)
        for method in methods:
            mine = both & (ok["method"].to_numpy() == method)
            if mine.any():
                ax.scatter(est[mine], ver[mine], s=12, marker=_marker(method, methods), alpha=.7,
                           label=method, rasterized=True)
        if both.any():
            top = float(max(est[both].max(), ver[both].max())) * 1.05
            ax.plot([0, top], [0, top], color="#555", lw=.8, ls="--", label="estimate = verified")
            ax.set_xlim(0, top)
            ax.set_ylim(0, top)
        else:
            ax.text(.5, .5, "no trial with both figures", ha="center", transform=ax.transAxes)
        ax.set_xlabel(f"estimated {name} ({unit})")
        ax.set_ylabel(f"verified {name} ({unit})")
        ax.set_title(f"{name}: estimate vs exported model")
        ax.grid(alpha=.25)
        ax.legend(fontsize=7.5, loc="upper left")
    return _data_uri(fig)


# --- small formatting helpers -----------------------------------------------------------------

def _anchor(dataset: str, mcu: str) -> str:
    return urllib.parse.quote(f"{dataset}--{mcu}", safe="")


def _pct(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * value:.2f} %"


def _kb(value) -> str:
    return "–" if pd.isna(value) else f"{value / 1024:.1f}"


def _budget(value, unit: str) -> str:
    return "none" if pd.isna(value) else f"{value:g} {unit}"


def _metric_cell(r: dict, spread: bool = False) -> str:
    text = _pct(r["metric"])
    if spread:
        std = r["metric_std"]
        text += f" ± {100 * std:.2f}" if pd.notna(std) else ""
        text += f" (n={r['n']})"
    return text + (" †" if r["metric_source"] == "float" else "")


def _lat_cell(r: dict) -> str:
    return f"{r['latency_ms']:.2f}" + (" ‡" if r["latency_source"] == "estimated" else "")


def _mem_cell(r: dict) -> str:
    return _kb(r["memory_bytes"]) + (" ‡" if r["memory_source"] == "estimated" else "")


def _link(target: tuple[str, str | None], title: str | None = None, text: str | None = None) -> str:
    shown, href = target
    text = text if href is not None and text else shown
    e = html.escape
    tip = f" title='{e(title)}'" if title else ""
    if href is None:
        return f"<code{tip}>{e(text)}</code>"
    return f"<a href='{e(href)}'{tip}>{e(text)}</a>"
