"""Pareto fronts of a results store: which model to flash, per data set and board.

A sweep leaves one row per trial. The user's question is a trade-off — accuracy against latency
against peak RAM (and, on request, flash) — so we keep, per (data set, MCU, method), the models no
other model beats on every axis at once.

Choices that shape the numbers (and that the report states):

- Figures: the int8 model's test metric as run in TFLite-Micro; a row without one (deployment
  skipped) falls back to the float test metric and is marked `float`. Costs: the verified figures of
  the exported model; a row without them falls back to the search's exact estimate (`estimated`).
- Feasible: status "ok" and neither `fits` nor `verified_fits` is False, with a metric and costs.
- Identical architectures (same `architecture_json` on the same board and method) are one model:
  metric mean ± std over its trials (seeds), n. Costs take the worst trial: an architecture has one
  cost per board, and where the verified figures differ slightly the conservative one is what a
  user can rely on.
- Hypervolume, per front, normalised to [0, 1]: the share of the box between the ideal point
  (metric 1, zero cost) and the reference point (metric 0; each cost at 1.1 × the largest value
  observed among the feasible models of that data set and board, or among its budgets, whichever is
  larger) that the front dominates. The reference point is shared by every method on a board, so
  methods compare. Exact computation (slicing), fine for fronts of hundreds of models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lut_store import InputError

METRICS = {"macro_f1": ("int8_macro_f1", "test_macro_f1", "macro-F1"),
           "accuracy": ("int8_accuracy", "test_accuracy", "accuracy")}
REFERENCE_MARGIN = 1.1
SHARED_SUFFIX = "+shared"   # the method of a trial that searched on a shared supernet
DEFAULT_METHOD = "micronas"  # rows written before sweeps recorded a method came from MicroNAS
GROUP = ["dataset", "mcu"]
FRONT = ["dataset", "mcu", "method"]


class ParetoFront:
    """Feasible models of a results store, merged over seeds, with their Pareto fronts.

    `models`: one row per (dataset, mcu, method, architecture), `on_front` marks front members;
    `front`: just those; `hypervolume`: one row per front; `reference`: the reference point per
    (dataset, mcu); `excluded`: every trial that is not a feasible model, with why;
    `budgets()`: the best model for each budget point of the sweep. `rows` are the store's rows
    with the figures used: `metric`, `latency_ms` and `memory_bytes` (each with a `*_source`), the
    search's own `estimated_latency_ms` and `estimated_memory_bytes`.
    """

    def __init__(self, rows: pd.DataFrame, *, metric: str = "macro_f1", flash: bool = False):
        if metric not in METRICS:
            raise InputError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
        self.metric = metric
        self.metric_label = METRICS[metric][2]
        self.flash = flash
        self.rows = _prepare(rows, metric)
        self.objectives = ["metric", "latency_ms", "memory_bytes"] + (["flash_bytes"] if flash else [])
        feasible, self.excluded = _split(self.rows, flash)
        self.models = _merge(feasible)
        self.reference = _reference_points(self.rows, self.models, flash)
        self.models["on_front"] = _front_mask(self.models, self.objectives)
        self.hypervolume = _hypervolumes(self.models, self.reference, self.objectives)

    @classmethod
    def from_store(cls, storage, *, metric: str = "macro_f1", flash: bool = False,
                   sweep: str | None = None) -> "ParetoFront":
        """From a `ResultsStore` or its URL."""
        from ._store import ResultsStore
        store = storage if isinstance(storage, ResultsStore) else ResultsStore(storage)
        return cls(store.read(sweep=sweep), metric=metric, flash=flash)

    @property
    def front(self) -> pd.DataFrame:
        return self.models[self.models["on_front"]].reset_index(drop=True)

    @property
    def groups(self) -> list[tuple[str, str]]:
        """Every (dataset, mcu) with at least one trial, feasible or not."""
        keys = self.rows[GROUP].drop_duplicates().sort_values(GROUP)
        return [tuple(k) for k in keys.itertuples(index=False)]

    @property
    def float_fallbacks(self) -> int:
        """Feasible trials whose metric is the float model's (no int8 figure)."""
        ok = self.rows[~self.rows.index.isin(self.excluded.index)]
        return int((ok["metric_source"] == "float").sum())

    def budgets(self, *, by_method: bool = False) -> pd.DataFrame:
        """For each budget point (lat_budget_ms, mem_budget_kb, power_budget_mw) the sweep searched
        at, the most accurate model of that data set and board that fits it — found under any
        budget. Ties go to the lower latency, then memory, then flash, so the pick is always a
        front member. A model fits a power budget by its estimated power; one without an estimate
        fits none."""
        cols = ["lat_budget_ms", "mem_budget_kb", "power_budget_mw"]
        rows = self.rows.assign(power_budget_mw=self.rows.get("power_budget_mw", np.nan))
        points = (rows[GROUP + cols].astype({c: "float64" for c in cols})
                  .drop_duplicates().sort_values(GROUP + cols, na_position="last"))
        models = self.models.sort_values(["metric", "latency_ms", "memory_bytes", "flash_bytes"],
                                         ascending=[False, True, True, True], kind="stable")
        methods = models["method"].to_numpy() if by_method else None
        picks, budget_rows = [], []  # (position in `models` or -1) per output row
        for (dataset, mcu), budget in points.groupby(GROUP, sort=False):
            where = np.flatnonzero((models["dataset"] == dataset).to_numpy(bool)
                                   & (models["mcu"] == mcu).to_numpy(bool))
            lat = models["latency_ms"].to_numpy()[where]
            mem = models["memory_bytes"].to_numpy()[where]
            power = models["power_mw"].to_numpy(dtype="float64")[where]
            for lat_t, mem_t, power_t in budget[cols].itertuples(index=False):
                fits = np.ones(len(where), bool)
                if pd.notna(lat_t):
                    fits &= lat <= lat_t
                if pd.notna(mem_t):
                    fits &= mem <= mem_t * 1024
                if pd.notna(power_t):
                    fits &= power <= power_t   # NaN (no estimate) never fits
                chosen = where[fits]  # in order of preference
                if by_method and len(chosen):
                    _, first = np.unique(methods[chosen], return_index=True)
                    chosen = chosen[np.sort(first)]
                chosen = list(chosen if by_method else chosen[:1]) or [-1]
                picks += chosen
                budget_rows += [(dataset, mcu, lat_t, mem_t, power_t)] * len(chosen)
        # Position -1 is in no index: budget points nothing fits get a row of nulls.
        found = (models.drop(columns=GROUP).reset_index(drop=True)
                 .reindex(np.asarray(picks, dtype=int)).reset_index(drop=True))
        frame = pd.concat([pd.DataFrame(budget_rows, columns=GROUP + cols), found], axis=1)
        frame["found"] = frame["model"].notna()
        return frame


# --- preparation ------------------------------------------------------------------------------

def _prepare(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric, latency and memory column per row, each with where its figure came from."""
    int8, floating, _ = METRICS[metric]
    df = rows.reset_index(drop=True)  # a fresh index: excluded rows are found by it
    method = df["method"].astype("string")
    df["method"] = method.where(method.notna() & (method != ""), DEFAULT_METHOD)
    if "shared_key" in df:   # sharing: supernet — its own front beside per-trial supernets
        shared = df["shared_key"].notna() & (df["shared_key"].astype("string") != "")
        df.loc[shared, "method"] = df.loc[shared, "method"] + SHARED_SUFFIX
    df["method"] = df["method"].astype(object)
    df["dataset"] = dataset_labels(df)
    # The search's own estimates, kept apart before `latency_ms` becomes the best figure we have.
    df["estimated_latency_ms"] = df["latency_ms"].astype("float64")
    df["estimated_memory_bytes"] = df["peak_memory_bytes"].astype("float64")
    df["metric"], df["metric_source"] = _fallback(df, int8, floating, "int8", "float")
    df["latency_ms"], df["latency_source"] = _fallback(
        df, "verified_latency_ms", "latency_ms", "verified", "estimated")
    df["memory_bytes"], df["memory_source"] = _fallback(
        df, "verified_memory_bytes", "peak_memory_bytes", "verified", "estimated")
    # RAM, as the memory budget counts it: the arena and the firmware's sensing ring (rows from
    # before the ring was recorded count the arena alone).
    if "input_buffer_bytes" in df:
        ring = df["input_buffer_bytes"].astype("float64").fillna(0.0)
        df["memory_bytes"] = df["memory_bytes"] + ring
    df["flash_bytes"] = df["flash_bytes"].astype("float64")
    return df


def dataset_labels(rows: pd.DataFrame) -> pd.Series:
    """The data set as the report names it: with its protocol unless official (rows written
    before protocols were recorded are official), and the leaky one flagged as such. Rows of two
    protocols are two data sets: their figures are never on one front."""
    from search_core.data import LEAKY

    protocol = (rows["protocol"] if "protocol" in rows else pd.Series(None, index=rows.index,
                                                                      dtype="string"))
    protocol = protocol.astype("string").fillna("official")
    name = rows["dataset"].astype("string")
    tag = protocol.where(protocol != LEAKY, f"{LEAKY}, LEAKY")
    return name.where(protocol == "official", name + " [" + tag + "]").astype(object)


def _fallback(df, first, second, first_name, second_name):
    a = df[first].astype("float64")
    b = df[second].astype("float64")
    value = a.where(a.notna(), b)
    source = pd.Series(np.where(a.notna(), first_name, np.where(b.notna(), second_name, "")),
                       index=df.index, dtype="string")
    return value, source


def _split(rows: pd.DataFrame, flash: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feasible trials, and the others with the reason they are left out."""
    status = rows["status"].fillna("")
    reason = rows["reason"].fillna("")
    why = pd.Series("", index=rows.index, dtype="object")
    checks = [
        (status != "ok", None),
        (rows["fits"].fillna(True) == False, "over budget (estimated cost)"),  # noqa: E712
        (rows["verified_fits"].fillna(True) == False, "over budget (verified cost)"),  # noqa: E712
        (rows["metric"].isna(), "no test metric"),
        (rows["latency_ms"].isna() | rows["memory_bytes"].isna(), "no cost figures"),
    ]
    if flash:
        checks.append((rows["flash_bytes"].isna(), "no flash figure"))
    for mask, text in checks:
        mask = mask.to_numpy(bool) & (why == "").to_numpy()
        if text is None:  # not ok: the trial's own reason, or its status when it gave none
            why[mask] = np.where(reason[mask] != "", reason[mask], status[mask])
        else:
            why[mask] = np.where(reason[mask] != "", text + ": " + reason[mask], text)
    bad = why != ""
    excluded = rows[bad].copy()
    excluded["why"] = why[bad]
    return rows[~bad], excluded


def _merge(feasible: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture per (dataset, mcu, method): mean ± std over its trials."""
    df = feasible.copy()
    arch = df["architecture_json"].astype("string")
    # A trial without an architecture cannot be matched with another: it stands alone.
    df["model"] = arch.where(arch.notna() & (arch != ""), "trial:" + df["trial_key"].astype(str))
    keys = FRONT + ["model"]
    columns = keys + ["metric", "metric_std", "n", "latency_ms", "memory_bytes", "flash_bytes",
                      "metric_source", "latency_source", "memory_source", "trial_key", "artifacts",
                      "seeds", "trial_keys", "found_under", "architecture_json", "front_end_text",
                      "power_mw", "energy_per_inference_mj"]
    for col in ("sensors", "sample_rate_hz", "window_s", "power_mw", "energy_per_inference_mj"):
        if col not in df:   # rows of stores written before front ends were recorded
            df[col] = np.nan
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("metric", "metric_std",
                             "latency_ms", "memory_bytes", "flash_bytes", "power_mw",
                             "energy_per_inference_mj") else "object")
                             for c in columns}).astype({"n": "int64"})
    # Group once on the (long) keys; every later aggregation is over a small integer id.
    df["model_id"] = df.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    grouped = df.groupby("model_id", sort=True)
    out = grouped.agg(metric=("metric", "mean"), metric_std=("metric", "std"),
                      n=("metric", "size"), latency_ms=("latency_ms", "max"),
                      memory_bytes=("memory_bytes", "max"), flash_bytes=("flash_bytes", "max"),
                      power_mw=("power_mw", "max"),
                      energy_per_inference_mj=("energy_per_inference_mj", "max"))
    # A model's figure is only as good as its weakest trial's: one float (or estimated) figure
    # among the seeds makes the mean a float (estimated) one.
    for col, strong, weak in (("metric_source", "int8", "float"),
                              ("latency_source", "verified", "estimated"),
                              ("memory_source", "verified", "estimated")):
        any_weak = (df[col] == weak).astype(bool).groupby(df["model_id"]).any()
        out[col] = np.where(any_weak.reindex(out.index).to_numpy(bool), weak, strong)
    # The trial to flash is the model's best seed; its bundle is the one the report links.
    best = (df.sort_values(["metric", "trial_key"], ascending=[False, True], kind="stable")
              .drop_duplicates("model_id").set_index("model_id"))
    for col in keys + ["trial_key", "artifacts", "architecture_json"]:
        out[col] = best[col]
    # The front end the model reads (one per model: the input shape is in its architecture).
    out["front_end_text"] = pd.Series(   # aligned on model_id, as the columns above
        [_front_end_text(*v) for v in best[["sensors", "sample_rate_hz", "window_s"]].to_numpy()],
        index=best.index)
    df = df.sort_values(["seed", "trial_key"], kind="stable")
    df["seed_text"] = df["seed"].astype("string").fillna("?")
    by_model = df.groupby("model_id", sort=True)
    out["seeds"] = by_model["seed_text"].agg(" ".join)
    out["trial_keys"] = by_model["trial_key"].agg(list)
    df["budget_text"] = [_fmt_budget(lat, mem) for lat, mem in
                         zip(df["lat_budget_ms"].to_numpy(), df["mem_budget_kb"].to_numpy())]
    budgets = (df.drop_duplicates(["model_id", "budget_text"])
               .sort_values(["model_id", "lat_budget_ms", "mem_budget_kb"], na_position="last"))
    out["found_under"] = budgets.groupby("model_id", sort=True)["budget_text"].agg(", ".join)
    out = out.reset_index(drop=True)
    out["n"] = out["n"].astype("int64")
    return out[columns]


def _front_end_text(sensors, rate, window_s) -> str:
    if not isinstance(sensors, str):
        return ""
    return f"{sensors}, {rate:g} Hz, {window_s:g} s" if rate == rate and window_s == window_s \
        else sensors


def _fmt_budget(lat, mem) -> str:
    if pd.isna(lat) and pd.isna(mem):
        return "unconstrained"
    return (("no latency limit" if pd.isna(lat) else f"{lat:g} ms") + " / "
            + ("no memory limit" if pd.isna(mem) else f"{mem:g} KB"))


def _reference_points(rows: pd.DataFrame, models: pd.DataFrame, flash: bool) -> pd.DataFrame:
    """Per (dataset, mcu): metric 0 and 1.1 × the largest cost observed or budgeted."""
    budgets = rows.groupby(GROUP)[["lat_budget_ms", "mem_budget_kb"]].max()
    budgets["mem_budget_bytes"] = budgets["mem_budget_kb"] * 1024
    if len(models):
        seen = models.groupby(GROUP)[["latency_ms", "memory_bytes", "flash_bytes"]].max()
    else:
        seen = pd.DataFrame(columns=["latency_ms", "memory_bytes", "flash_bytes"], dtype="float64")
    seen = seen.reindex(budgets.index)
    ref = pd.DataFrame(index=budgets.index)
    ref["metric"] = 0.0
    ref["latency_ms"] = REFERENCE_MARGIN * np.fmax(seen["latency_ms"], budgets["lat_budget_ms"])
    ref["memory_bytes"] = REFERENCE_MARGIN * np.fmax(seen["memory_bytes"], budgets["mem_budget_bytes"])
    if flash:
        ref["flash_bytes"] = REFERENCE_MARGIN * seen["flash_bytes"]
    return ref.reset_index()


# --- fronts and hypervolume -------------------------------------------------------------------

def _costs(frame: pd.DataFrame, objectives: list[str]) -> np.ndarray:
    """Objectives as costs to minimise: the metric enters negated."""
    values = frame[objectives].to_numpy(dtype="float64", copy=True)
    values[:, 0] = -values[:, 0]
    return values


def _front_mask(models: pd.DataFrame, objectives: list[str]) -> np.ndarray:
    mask = np.zeros(len(models), bool)
    if not len(models):
        return mask
    costs = _costs(models, objectives)
    codes = models.groupby(FRONT, sort=False).ngroup().to_numpy()
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        mask[idx[non_dominated(costs[idx])]] = True
    return mask


def non_dominated(costs: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows that no other row dominates (all objectives minimised; a row
    dominates another when it is no worse on every objective and better on one; equal rows do
    not dominate each other)."""
    costs = np.asarray(costs, dtype="float64")
    n = len(costs)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep
    # In lexicographic order a row can only be dominated by a row before it, and whatever
    # dominates it is itself dominated by (or is) a front member already found: one pass against
    # the front so far suffices, and the front is small compared with the rows.
    order = np.lexsort(costs.T[::-1])
    front = np.empty_like(costs)
    size = 0
    for i in order:
        row = costs[i]
        if size:
            head = front[:size]
            if ((head <= row).all(axis=1) & (head < row).any(axis=1)).any():
                continue
        front[size] = row
        size += 1
        keep[i] = True
    return keep


def hypervolume(costs: np.ndarray, reference: np.ndarray) -> float:
    """Exact volume dominated by `costs` (minimised) and bounded by `reference`."""
    costs = np.asarray(costs, dtype="float64")
    reference = np.asarray(reference, dtype="float64")
    if len(costs):
        costs = costs[(costs < reference).all(axis=1)]
    if not len(costs):
        return 0.0
    return float(_hv(costs[non_dominated(costs)], reference))


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    d = points.shape[1]
    if d == 1:
        return ref[0] - points[:, 0].min()
    if d == 2:  # sweep along x: the running minimum of y is the staircase's height
        order = np.argsort(points[:, 0], kind="stable")
        x = points[order, 0]
        y = np.minimum.accumulate(points[order, 1])
        widths = np.diff(np.append(x, ref[0]))
        return float(np.sum(widths * (ref[1] - y)))
    # Slice along the last axis: between consecutive last coordinates the dominated cross-section
    # is that of the points seen so far, one dimension lower.
    order = np.argsort(points[:, -1], kind="stable")
    pts = points[order]
    edges = np.append(pts[:, -1], ref[-1])
    total = 0.0
    for i in range(len(pts)):
        depth = edges[i + 1] - edges[i]
        if depth > 0:
            lower = pts[: i + 1, :-1]
            if d > 3:  # the 2-D sweep ignores dominated points by itself
                lower = lower[non_dominated(lower)]
            total += depth * _hv(lower, ref[:-1])
    return total


def _hypervolumes(models: pd.DataFrame, reference: pd.DataFrame,
                  objectives: list[str]) -> pd.DataFrame:
    columns = FRONT + ["models", "front", "hypervolume"] + [f"ref_{o}" for o in objectives]
    out = []
    refs = reference.set_index(GROUP)
    front = models[models["on_front"]]
    counts = models.groupby(FRONT).size()
    for key, members in front.groupby(FRONT, sort=True):
        ref = refs.loc[key[:2], objectives].to_numpy(dtype="float64")
        costs = _costs(members, objectives)
        ref_costs = ref.copy()
        ref_costs[0] = -ref_costs[0]
        # Normalised by the box from the ideal point (metric 1, zero cost) to the reference.
        ideal = np.zeros(len(objectives))
        ideal[0] = -1.0
        box = float(np.prod(ref_costs - ideal))
        value = hypervolume(costs, ref_costs) / box if box > 0 else float("nan")
        out.append({**dict(zip(FRONT, key)), "models": int(counts[key]), "front": len(members),
                    "hypervolume": value, **{f"ref_{o}": r for o, r in zip(objectives, ref)}})
    return pd.DataFrame(out, columns=columns)
