"""Hypothesis settings for the fuzz tests (tests/*/test_fuzz_*.py).

The normal test run tries ~300 cases per fuzz test; a dedicated run sets the number:

    MICRONAS_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/lut_store/test_fuzz_records.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_ENV = "MICRONAS_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 300


def _examples() -> int:
    text = os.environ.get(FUZZ_ENV, "")
    try:
        return int(text) if text.strip() else DEFAULT_EXAMPLES
    except ValueError:
        raise ValueError(f"${FUZZ_ENV} must be an integer, got {text!r}") from None


settings.register_profile(
    "micronas-fuzz", max_examples=_examples(), deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])

FUZZ = settings.get_profile("micronas-fuzz")


def shown(caught) -> list[str]:
    """The recorded warnings Python would print by default: on the real command's stderr they
    would be more lines than the one error line."""
    hidden = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
    return [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
            if not issubclass(w.category, hidden)]
