"""`micronas sweep` and `micronas results`."""

from __future__ import annotations


def register(sub) -> None:
    pass
