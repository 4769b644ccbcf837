"""The sweep spec and the checks before any trial: every bad input is one line, exit 2."""

import textwrap
from pathlib import Path

import pytest

from lut_store import InputError
from orchestrator._spec import load_spec, parse_spec, search_config
from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[2]

GOOD = {"name": "t", "datasets": ["basicmotions"], "mcus": ["nucleo-l552ze-q"],
        "budgets": {"latency_ms": [12, 20], "memory_kb": [6]}}


def test_quickstart_spec_parses_into_two_boards_times_two_budgets():
    spec = load_spec(ROOT / "examples" / "quickstart.yaml")
    points = spec.points()
    assert {p.mcu for p in points} == {"nucleo-l552ze-q", "nucleo-f446re"}
    assert sorted({p.latency_ms for p in points}) == [25.0, 50.0]
    assert len(points) == 4 and spec.datasets == ("ucihar",)
    assert spec.optuna is not None and spec.trials_per_point >= 1
    assert Path(spec.storage).is_absolute()      # trials run in other working folders


def test_grid_and_list_budgets_and_fingerprint():
    spec = parse_spec(GOOD)
    assert [(p.latency_ms, p.memory_kb) for p in spec.points()] == [(12.0, 6.0), (20.0, 6.0)]
    listed = parse_spec({**GOOD, "budgets": [{"latency_ms": 12, "memory_kb": 6},
                                             {"latency_ms": 20, "memory_kb": 6}]})
    assert listed.points() == spec.points()
    assert listed.fingerprint() == spec.fingerprint()
    assert parse_spec({**GOOD, "seeds": [0, 1]}).fingerprint() != spec.fingerprint()


def test_protocol_and_objective():
    spec = parse_spec({**GOOD, "optuna": {}})
    assert spec.protocol == "official" and spec.objective == "val_neg_log_loss"
    assert spec.data_options() == {"protocol": "official"}
    spec = parse_spec({**GOOD, "protocol": "subjects", "optuna": {"objective": "val_macro_f1"}})
    assert spec.protocol == "subjects-0of5" and spec.objective == "val_macro_f1"
    assert spec.data_options() == {"protocol": "subjects", "fold": 0, "folds": 5}
    # The protocol decides which trials a sweep holds.
    assert parse_spec({**GOOD, "protocol": "paper-random"}).fingerprint() != \
        parse_spec(GOOD).fingerprint()


def test_objective_quality_counts_ties_and_ranks():
    import pandas as pd

    from orchestrator import objective_quality

    rows = pd.DataFrame({
        "point": ["a"] * 4 + ["b"] * 2, "status": ["ok"] * 5 + ["failed"],
        "val_accuracy": [0.9, 0.9, 0.9, 0.8, 0.7, None],
        "val_neg_log_loss": [-0.1, -0.2, -0.3, -0.4, -0.5, None],
        "int8_accuracy": [0.95, 0.94, None, 0.90, 0.85, None],
        "test_accuracy": [0.96, 0.95, 0.93, 0.91, 0.86, None]})
    acc = objective_quality(rows, "val_accuracy")
    assert acc["ties"] == {"a": 2, "b": 0} and acc["max_ties"] == 2 and acc["trials"] == 5
    nll = objective_quality(rows, "val_neg_log_loss")
    assert nll["max_ties"] == 0 and nll["spearman_pooled"] == 1.0   # same order as test
    assert nll["spearman_within_points"] == 1.0


def test_tuned_values_reach_the_search_config():
    spec = parse_spec({**GOOD, "search": {"epochs": 3, "memory_under": 0.0}})
    config = search_config(spec, 7, {"latency_over": 0.5, "tau_end": 0.2})
    assert config.seed == 7 and config.epochs == 3 and config.tau_end == 0.2
    assert config.loss.latency.over == 0.5 and config.loss.memory.under == 0.0


@pytest.mark.parametrize("change, message", [
    ({"colour": "blue"}, "unknown key colour"),
    ({"search": {"epochz": 3}}, "unknown key search.epochz"),
    ({"budgets": {"latency_ms": []}}, "empty grid"),
    ({"budgets": []}, "empty list"),
    ({"budgets": {"latency_ms": [-1]}}, "positive number"),
    ({"budgets": [{"memory_kb": None}]}, "needs a latency or a memory budget"),
    ({"mcus": []}, "mcus must be a non-empty list"),
    ({"datasets": ["ucihar", "ucihar"]}, "duplicates"),
    ({"seeds": [-1]}, "seeds must be"),
    ({"name": "../x"}, "name must be"),
    ({"optuna": {"trials_per_point": 0}}, "trials_per_point"),
    ({"optuna": {"space": {"learning_rate": [0, 1]}}}, "unknown key optuna.space.learning_rate"),
    ({"optuna": {"space": {"latency_over": [0, 1, "log"]}}}, "low > 0 for log"),
    ({"search": {"epochs": -1}}, "epochs must be positive"),
    ({"deploy": {"quantisation": "fp16"}}, "quantisation"),
    ({"resources": {"cpus_per_trial": 0}}, "cpus_per_trial"),
    ({"protocol": "random"}, "protocol: unknown protocol 'random'"),
    ({"optuna": {"objective": "test_accuracy"}}, "optuna.objective must be one of"),
    ({"search": {"label_smoothing": 1.5}}, "label_smoothing must be in"),
])
def test_bad_specs_are_one_clear_line(change, message):
    with pytest.raises(InputError, match=message):
        parse_spec({**GOOD, **change}, source="spec.yaml")


def _cli(tmp_path, capsys, text: str) -> tuple[int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    code = main(["sweep", str(path), "--check"])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.fixture
def store_with_lut(tmp_path, lut_folder):
    """A local store whose lut/ holds the L552 LUT."""
    import shutil
    store = tmp_path / "store"
    shutil.copytree(lut_folder, store / "lut")
    return store


@pytest.mark.parametrize("body, message", [
    ("mcus: [no-such-board]", "no-such-board"),
    ("datasets: [no_such_set]", "no_such_set"),
])
def test_the_outside_world_is_checked_before_any_trial(tmp_path, capsys, store_with_lut, body,
                                                       message):
    base = {"datasets": "datasets: [basicmotions]", "mcus": "mcus: [nucleo-l552ze-q]"}
    base[body.split(":")[0]] = body
    code, err = _cli(tmp_path, capsys, f"""
        name: t
        storage: {store_with_lut}
        {base['datasets']}
        {base['mcus']}
        budgets: {{latency_ms: [12]}}
    """)
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


def test_a_board_without_lut_is_refused(tmp_path, capsys):
    code, err = _cli(tmp_path, capsys, f"""
        name: t
        storage: {tmp_path / 'empty-store'}
        datasets: [basicmotions]
        mcus: [nucleo-l552ze-q]
        budgets: {{latency_ms: [12]}}
    """)
    assert code == 2 and "no LUT for nucleo-l552ze-q" in err and "micronas lut import" in err


def test_a_board_priced_only_by_prediction_is_named(store_with_lut):
    from orchestrator._sweep import Sweep
    spec = parse_spec({**GOOD, "mcus": ["nucleo-f446re"], "storage": str(store_with_lut)})
    plan = Sweep(spec).check()
    assert any("nucleo-f446re" in n and "no measurements" in n for n in plan.notes)


def test_s3_storage_without_credentials_is_refused(tmp_path, capsys, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, err = _cli(tmp_path, capsys, """
        name: t
        storage: s3://bucket/prefix
        datasets: [basicmotions]
        mcus: [nucleo-l552ze-q]
        budgets: {latency_ms: [12]}
    """)
    assert code == 2 and "no S3 credentials" in err and len(err.splitlines()) == 1


def test_unreachable_storage_is_refused(tmp_path, capsys, monkeypatch):
    from _s3 import free_port
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    import s3fs
    s3fs.S3FileSystem.clear_instance_cache()
    code, err = _cli(tmp_path, capsys, """
        name: t
        storage: s3://bucket/prefix
        datasets: [basicmotions]
        mcus: [nucleo-l552ze-q]
        budgets: {latency_ms: [12]}
    """)
    s3fs.S3FileSystem.clear_instance_cache()
    assert code == 2 and "not reachable" in err and len(err.splitlines()) == 1, err


def test_a_sweep_name_cannot_be_reused_with_another_spec(tmp_path, capsys, store_with_lut):
    from orchestrator._spec import parse_spec
    from orchestrator._sweep import Sweep
    from lut_store import storage
    spec = parse_spec({**GOOD, "storage": str(store_with_lut)})
    storage.write_bytes(f"{store_with_lut}/sweeps/t/spec.json", b'{"fingerprint": "other"}')
    with pytest.raises(InputError, match="different spec"):
        Sweep(spec).check()


def test_power_budgets_are_a_fourth_budget_axis():
    grid = parse_spec({**GOOD, "budgets": {"memory_kb": [64], "power_mw": [0.3, 0.6]}})
    assert grid.budgets == ((None, 64.0, None, 0.3), (None, 64.0, None, 0.6))
    points = grid.points()
    assert [p.power_mw for p in points[:2]] == [0.3, 0.6] and points[0].flash_kb is None
    assert points[0].key.endswith("-none-64kb-0.3mw-seed0")
    listed = parse_spec({**GOOD, "budgets": [{"power_mw": 0.3}, {"latency_ms": 25, "memory_kb": 64}]})
    assert listed.budgets == ((None, None, None, 0.3), (25.0, 64.0))
    assert [p.power_mw for p in listed.points()][:2] == [0.3, None]
    # no power budget: the points keep their keys and the spec its fingerprint
    assert parse_spec(GOOD).points()[0].power_mw is None
    with pytest.raises(InputError, match="power_mw must be a positive number"):
        parse_spec({**GOOD, "budgets": {"power_mw": [0]}})


def test_an_energy_file_is_checked_when_the_spec_is_read(tmp_path):
    assert parse_spec(GOOD).energy is None and parse_spec(GOOD).fingerprint() == \
        parse_spec({**GOOD, "energy": None}).fingerprint()
    with pytest.raises(InputError, match="energy: .*not a readable energy file"):
        parse_spec({**GOOD, "energy": str(tmp_path / "none.json")})
    good = tmp_path / "board.json"
    good.write_text('{"format": "micronas-energy", "mcus": {}}')
    spec = parse_spec({**GOOD, "energy": str(good)})
    assert spec.energy == str(good) and spec.energy_model().source == str(good)
