"""Where `SearchConfig` and `DeployConfig` meet the user: the sweep spec's `search:` / `deploy:`
keys and the flags of `micronas search` / `export`. Both are derived from the dataclasses' fields
(name, type, default, `metadata["help"]`), so a new field appears everywhere at once. A field that a
surface must not offer is on that surface's deny-list below, with the reason; a test checks that
every field is either offered or denied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# The flat spec keys of `SearchConfig.loss` (a HardwareLoss of two BudgetPenalty): key ->
# (penalty, side). They are also what Optuna tunes (see `_spec.TUNABLE`).
LOSS_KEYS = {"latency_over": ("latency", "over"), "latency_under": ("latency", "under"),
             "memory_over": ("memory", "over"), "memory_under": ("memory", "under")}

SPEC_SEARCH_DENIED = {
    "seed": "set per trial from the spec's `seeds` list",
    "loss": "an object: its weights are the flat keys latency_over, latency_under, memory_over "
            "and memory_under (or tuned in `optuna.space`)",
}
SPEC_DEPLOY_DENIED = {
    "seed": "the trial's seed, from the spec's `seeds` list",
    "arena_size": "one fixed arena for every network of a sweep would fail the larger ones and "
                  "hide what the smaller ones need; each model is checked in the arena it "
                  "measures (`micronas export --arena-bytes` checks one model in a given size)",
}
CLI_SEARCH_DENIED = {
    "loss": "the hardware-loss weights are MicroNAS's defaults for one search; a sweep sets them "
            "in `search:` or tunes them with Optuna",
}
CLI_DEPLOY_DENIED = {
    "seed": "the search's --seed (`micronas export`: the run's own seed from result.json)",
}
# Flags whose name is not `--field-name`: the first is the flag, the rest are older spellings
# that keep working. QAT's batch size and dropout would clash with the search's flags.
CLI_DEPLOY_FLAGS = {
    "calibration_windows": ("--calibration-windows", "--calibration"),
    "arena_size": ("--arena-size", "--arena-bytes"),
    "batch_size": ("--qat-batch-size",),
    "dropout": ("--qat-dropout",),
}
CLI_DEPLOY_DEST = "deploy_"   # argparse dest prefix of the deploy flags (batch_size is in both)

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def search_config_class():
    from search_core import SearchConfig
    return SearchConfig


def deploy_config_class():
    from search_core.deploy import DeployConfig
    return DeployConfig


def settable(cls, denied: dict) -> list[dataclasses.Field]:
    """The fields of a config dataclass that a surface offers."""
    return [f for f in dataclasses.fields(cls) if f.name not in denied]


def field_type(f: dataclasses.Field) -> tuple[type, bool]:
    """(scalar type, may be None) of a field, from its annotation (a string: see PEP 563)."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    parts = [p.strip() for p in text.split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) != 1 or parts[0] not in _TYPES:
        raise TypeError(f"{f.name}: a config surface offers int, float, bool and str fields, "
                        f"not {text} (deny it with a reason, or give it a flat form)")
    return _TYPES[parts[0]], optional


def default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"{f.name}: a config field needs a default")


def show_default(value) -> str:
    """A default as the help text shows it (what a user would type)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def help_text(f: dataclasses.Field) -> str:
    return f"{f.metadata.get('help', f.name.replace('_', ' '))} (default: {show_default(default(f))})"


def spec_keys(cls, denied: dict) -> set[str]:
    keys = {f.name for f in settable(cls, denied)}
    return keys | set(LOSS_KEYS) if "loss" in denied and _has(cls, "loss") else keys


def check_spec_values(section: dict, cls, denied: dict, where: str, fail) -> None:
    """Types (and choices) of a spec section's values, one line per problem; ranges are the
    dataclass's own checks (see `_spec._check_configs`)."""
    fields = {f.name: f for f in settable(cls, denied)}
    for key, value in section.items():
        if key in LOSS_KEYS:
            kind, optional, choices = float, False, None
        else:
            kind, optional = field_type(fields[key])
            choices = fields[key].metadata.get("choices")
        if value is None and optional:
            continue
        if kind is bool:
            ok, what = isinstance(value, bool), "true or false"
        elif kind is int:
            ok, what = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
                value == value and value not in (float("inf"), float("-inf"))
            what = "a number"
        else:
            ok, what = isinstance(value, str), "a string"
        if ok and choices and value not in choices:
            ok, what = False, " or ".join(repr(c) for c in choices)
        if not ok:
            fail(f"{where}.{key} must be {what}{' (or null)' if optional else ''}, got {value!r}")


def _has(cls, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(cls))
