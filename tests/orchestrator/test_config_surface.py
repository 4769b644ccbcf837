"""The spec's `search:` / `deploy:` keys and `micronas search` / `export` flags are derived from
SearchConfig / DeployConfig: every field is offered, or denied with a reason; help defaults are the
dataclass defaults; a value set on a surface reaches the config."""

import argparse
import dataclasses

import pytest

from lut_store import InputError
from orchestrator import _config_surface as surface
from orchestrator._search_commands import _deploy_config, _search_config
from orchestrator._spec import deploy_config, parse_spec, search_config
from orchestrator.cli import build_parser
from search_core import SearchConfig
from search_core.deploy import DeployConfig

GOOD = {"name": "t", "datasets": ["basicmotions"], "mcus": ["nucleo-l552ze-q"],
        "budgets": {"latency_ms": [12], "memory_kb": [6]}}
SURFACES = [  # (config class, spec deny-list, CLI deny-list)
    (SearchConfig, surface.SPEC_SEARCH_DENIED, surface.CLI_SEARCH_DENIED),
    (DeployConfig, surface.SPEC_DEPLOY_DENIED, surface.CLI_DEPLOY_DENIED),
]


def _actions(command: str) -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    # The first action of a dest is the field's flag (an alias like --ptq may follow).
    actions = {}
    for a in sub.choices[command]._actions:
        actions.setdefault(a.dest, a)
    return actions


def _other_value(f):
    kind, optional = surface.field_type(f)
    value = surface.default(f)
    if f.metadata.get("choices"):
        return next(c for c in f.metadata["choices"] if c != value)
    if kind is bool:
        return not value
    if value is None:
        return 4096
    if kind is float:
        return value / 2 if value else 0.5
    return value + 1 if kind is int else value


@pytest.mark.parametrize("cls, spec_denied, cli_denied", SURFACES,
                         ids=["SearchConfig", "DeployConfig"])
def test_every_field_is_offered_or_denied_with_a_reason(cls, spec_denied, cli_denied):
    names = {f.name for f in dataclasses.fields(cls)}
    for denied in (spec_denied, cli_denied):
        assert set(denied) <= names, "a deny-list names a field that does not exist"
        assert all(isinstance(r, str) and len(r) > 20 for r in denied.values()), "reason, please"
    spec_keys = surface.spec_keys(cls, spec_denied)
    section = "search" if cls is SearchConfig else "deploy"
    prefix = "" if cls is SearchConfig else surface.CLI_DEPLOY_DEST
    for command in ("search",) if cls is SearchConfig else ("search", "export"):
        actions = _actions(command)
        for f in dataclasses.fields(cls):
            assert f.name in spec_keys or f.name in spec_denied, f"spec: {f.name}"
            assert (prefix + f.name in actions) != (f.name in cli_denied), f"CLI: {f.name}"
            assert f.metadata.get("help") or f.name in spec_denied and f.name in cli_denied, \
                f"{f.name} has no help text"
    # Accepted by the spec: a non-default value of every offered field reaches the config.
    values = {f.name: _other_value(f) for f in surface.settable(cls, spec_denied)}
    if cls is SearchConfig:
        values["tau_end"] = 0.05      # below tau_start, as the config demands
    spec = parse_spec({**GOOD, section: values})
    built = search_config(spec, 3, {}) if cls is SearchConfig else deploy_config(spec, 3)
    assert {k: getattr(built, k) for k in values} == values and built.seed == 3


@pytest.mark.parametrize("command", ["search", "export"])
def test_help_defaults_are_the_dataclass_defaults(command):
    actions = _actions(command)
    for cls, _, denied in SURFACES:
        if cls is SearchConfig and command == "export":
            continue
        prefix = "" if cls is SearchConfig else surface.CLI_DEPLOY_DEST
        for f in surface.settable(cls, denied):
            action = actions[prefix + f.name]
            assert action.default == surface.default(f), f.name
            assert action.help.endswith(f"(default: {surface.show_default(f.default)})"), f.name
    if command == "search":   # the figure that once said 60
        assert actions["retrain_epochs"].help.endswith("(default: 120)")
        assert SearchConfig().retrain_epochs == 120


def test_cli_flags_reach_the_configs_old_names_too():
    parser = build_parser()
    args = parser.parse_args(
        ["search", "--dataset", "x", "--mcu", "m", "--out", "o", "--seed", "5", "--epochs", "3",
         "--retrain-epochs", "7", "--no-batch-norm", "--retrain-select", "best_val",
         "--weight-clip", "2.5", "--fill-max-drop", "1", "--no-hard-sampling",
         "--no-cost-on-distribution", "--batch-size", "16", "--qat-batch-size", "8",
         "--calibration", "64", "--arena-bytes", "9000", "--ptq", "--qat-epochs", "0"])
    config = _search_config(args)
    assert (config.seed, config.epochs, config.retrain_epochs, config.batch_norm,
            config.retrain_select, config.weight_clip, config.fill_max_drop, config.hard_sampling,
            config.cost_on_distribution, config.batch_size) == \
        (5, 3, 7, False, "best_val", 2.5, 1.0, False, False, 16)
    deploy = _deploy_config(args, config.seed)
    assert (deploy.seed, deploy.batch_size, deploy.calibration_windows, deploy.arena_size,
            deploy.quantisation, deploy.qat_epochs) == (5, 8, 64, 9000, "ptq", 0)
    # Without flags: the dataclass defaults exactly.
    plain = parser.parse_args(["search", "--dataset", "x", "--mcu", "m", "--out", "o"])
    assert _search_config(plain) == SearchConfig()
    assert _deploy_config(plain, 0) == DeployConfig()


@pytest.mark.parametrize("section, value, message", [
    ("search", {"batch_norm": "yes"}, "search.batch_norm must be true or false, got 'yes'"),
    ("search", {"epochs": 2.5}, "search.epochs must be an integer, got 2.5"),
    ("search", {"retrain_select": "best"}, "search.retrain_select must be 'last' or 'best_val'"),
    ("search", {"seed": 1}, "unknown key search.seed"),
    ("search", {"loss": {}}, "unknown key search.loss"),
    ("deploy", {"quantisation": "int4"}, "deploy.quantisation must be 'qat' or 'ptq'"),
    ("deploy", {"arena_size": 9000}, "unknown key deploy.arena_size"),
    ("deploy", {"qat_lr": "fast"}, "deploy.qat_lr must be a number, got 'fast'"),
])
def test_spec_values_are_typed(section, value, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_spec({**GOOD, section: value})
