"""The report page: `templates/report.html.j2` rendered with Jinja2 (autoescape on: every value from
the store — data set names, reasons, architecture JSON — is escaped; only the template's own markup
is HTML). Number formatting lives here, as the template's filters."""

from __future__ import annotations

import pandas as pd

TEMPLATE = "report.html.j2"


def render_page(context: dict) -> str:
    return _environment().get_template(TEMPLATE).render(**context)


def _environment():
    import jinja2

    global _ENV
    if _ENV is None:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("orchestrator", "templates"),
            autoescape=True, trim_blocks=True, lstrip_blocks=True,
            undefined=jinja2.StrictUndefined)   # a misspelt field fails the test, not the reader
        env.filters.update(pct=pct, kb=kb, budget=budget, blank=blank, fmt=fmt, energy=energy,
                           metric_cell=metric_cell, lat_cell=lat_cell, mem_cell=mem_cell)
        _ENV = env
    return _ENV


_ENV = None


def _missing(value) -> bool:
    return value is None or bool(pd.isna(value))


def pct(value) -> str:
    return "–" if _missing(value) else f"{100 * value:.2f} %"


def kb(value) -> str:
    return "–" if _missing(value) else f"{value / 1024:.1f}"


def energy(value) -> str:
    """mJ or mW: three significant digits (inference energies are fractions of a mJ)."""
    return "–" if _missing(value) else f"{value:.3g}"


def budget(value, unit: str) -> str:
    return "none" if _missing(value) else f"{value:g} {unit}"


def blank(value):
    return "" if _missing(value) else value


def fmt(value, spec: str) -> str:
    return format(value, spec)


def metric_cell(r: dict, spread: bool = False) -> str:
    text = pct(r["metric"])
    if spread:
        std = r["metric_std"]
        text += f" ± {100 * std:.2f}" if pd.notna(std) else ""
        text += f" (n={r['n']})"
    return text + (" †" if r["metric_source"] == "float" else "")


def lat_cell(r: dict) -> str:
    return f"{r['latency_ms']:.2f}" + (" ‡" if r["latency_source"] == "estimated" else "")


def mem_cell(r: dict) -> str:
    return kb(r["memory_bytes"]) + (" ‡" if r["memory_source"] == "estimated" else "")
