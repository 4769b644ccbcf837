"""`micronas report`: Pareto fronts of a results store as a self-contained HTML page."""

from __future__ import annotations


def register(sub) -> None:
    pass  # built with the report
