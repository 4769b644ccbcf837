"""The report's plots: matplotlib figures as self-contained SVG data URIs (text drawn as paths, so
no font is needed to view them; a fixed hash salt and no date, so the same data draws the same
bytes)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from ._pareto import non_dominated

_MARKERS = {"micronas": "o", "darts": "s", "random": "^"}
_MORE_MARKERS = "DvP*Xh<>p"


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


def tradeoff_plot(front, models: pd.DataFrame, budgets: pd.DataFrame,
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
            (left, lat, mem, "viridis", "RAM (KB)", "latency (ms)", "lat_budget_ms", "latency_ms"),
            (right, mem, lat, "plasma", "latency (ms)", "RAM (KB)", "mem_budget_kb", "memory_kb")):
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
    right.set_title(f"{front.metric_label} vs RAM")
    left.legend(fontsize=7.5, loc="lower right", framealpha=.85)
    return _data_uri(fig)


def agreement_plot(ok: pd.DataFrame, pairs: dict) -> str:
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
