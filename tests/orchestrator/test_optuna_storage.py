"""Optuna's own tools open a sweep's studies: they live in an Optuna storage (a journal file beside
a local store by default, or the spec's `optuna.storage`), one per grid point named
`<sweep>/<point key>`, and `optuna.load_study` / `optuna.visualization` read them as they are."""

import itertools
import json
import os
import subprocess
import sys

import pytest
import yaml

from lut_store import InputError
from orchestrator._spec import parse_spec
from _synthetic import dry_source

BASE = {"name": "opt", "datasets": ["basicmotions"], "mcus": ["nucleo-l552ze-q"],
        "budgets": {"latency_ms": [10]}}


# --- the spec key --------------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    ("nonsense://x", "optuna.storage must be a database URL"),
    ("", "optuna.storage must be a database URL"),
    (3, "optuna.storage must be a database URL"),
    ("s3://bucket/studies.journal", "optuna.storage: s3:// holds no Optuna storage"),
    ("postgresql://me:secret@db/optuna", "optuna.storage: no password in the spec"),
])
def test_a_bad_storage_is_one_line_naming_the_key(value, message):
    with pytest.raises(InputError) as err:
        parse_spec({**BASE, "optuna": {"storage": value}})
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "secret" not in str(err.value)


def test_a_folder_is_not_a_journal(tmp_path):
    with pytest.raises(InputError, match="optuna.storage: .* is a folder: name the journal file"):
        parse_spec({**BASE, "optuna": {"storage": str(tmp_path)}})


def test_storage_values_are_made_absolute_and_left_out_of_old_fingerprints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    journal = parse_spec({**BASE, "optuna": {"storage": "studies.journal"}})
    assert journal.optuna.storage == str(tmp_path / "studies.journal")
    sqlite = parse_spec({**BASE, "optuna": {"storage": "sqlite:///studies.db"}})
    assert sqlite.optuna.storage == f"sqlite:///{tmp_path / 'studies.db'}"
    assert parse_spec({**BASE, "optuna": {"storage": "postgresql://me@db/optuna"}}) \
        .optuna.storage == "postgresql://me@db/optuna"
    # Where the studies live is part of a sweep (a resumed sweep keeps them), but a spec without
    # the key keeps the fingerprint it had before the key existed.
    plain = parse_spec({**BASE, "optuna": {}})
    assert plain.fingerprint() != journal.fingerprint()
    assert plain.optuna.storage is None and "storage" not in _fingerprinted(plain)["optuna"]


def _fingerprinted(spec) -> dict:
    """The document SweepSpec.fingerprint hashes (captured, not recomputed)."""
    seen = {}
    real = json.dumps

    def capture(doc, **kw):
        seen.setdefault("doc", doc)
        return real(doc, **kw)
    import orchestrator._spec as module
    module.json.dumps, saved = capture, module.json.dumps
    try:
        spec.fingerprint()
    finally:
        module.json.dumps = saved
    return seen["doc"]


def test_where_studies_live(tmp_path):
    from orchestrator._sweep import Sweep
    local = Sweep(parse_spec({**BASE, "storage": str(tmp_path / "store"), "optuna": {}}))
    assert local.optuna_url == str(tmp_path / "store" / "optuna" / "opt.journal")
    remote = Sweep(parse_spec({**BASE, "storage": "s3://bucket/team", "optuna": {}}))
    assert remote.optuna_url is None                       # as before: Tune's checkpoint only
    cluster = Sweep(parse_spec({**BASE, "storage": "s3://bucket/team",
                                "optuna": {"storage": "sqlite:////shared/optuna.db"}}))
    assert cluster.optuna_url == "sqlite:////shared/optuna.db"
    assert Sweep(parse_spec({**BASE, "storage": str(tmp_path)})).optuna_url is None   # no Optuna


def test_check_opens_a_database_before_any_trial(tmp_path):
    from orchestrator._sweep import check_optuna_storage
    check_optuna_storage(f"sqlite:///{tmp_path / 'new.db'}")                 # creatable
    check_optuna_storage(str(tmp_path / "new" / "folder" / "s.journal"))    # creatable
    assert os.listdir(tmp_path) == []                                        # nothing written
    (tmp_path / "file").write_text("not a folder")
    under_a_file = tmp_path / "file"
    for url in (f"sqlite:///{under_a_file / 'optuna.db'}", str(under_a_file / "s.journal")):
        with pytest.raises(InputError, match=r"^optuna.storage: cannot write .* not a writable"):
            check_optuna_storage(url)
    with pytest.raises(InputError, match=r"^optuna.storage: cannot open postgresql://me@"):
        check_optuna_storage("postgresql://me@127.0.0.1:1/optuna")          # no driver, no server


# --- the searcher on a storage -------------------------------------------------------------------
POINTS = [{"key": f"p{lat}", "dataset": "basicmotions", "mcu": "nucleo-l552ze-q",
           "latency_ms": float(lat), "memory_kb": None, "seed": 0} for lat in (10, 20)]


def test_a_restored_searcher_continues_the_stored_studies(tmp_path):
    import optuna

    from orchestrator._optuna import PointSearcher, open_storage
    from orchestrator._spec import OptunaSettings

    url = str(tmp_path / "optuna" / "s.journal")
    searcher = PointSearcher(POINTS, 3, OptunaSettings(trials_per_point=3),
                             storage=open_storage(url), sweep="s",
                             attrs={"sweep": "s", "results": "/store"})
    for i in range(3):
        searcher.suggest(f"t{i}")                      # p10, p20, p10
    searcher.on_trial_complete("t0", {"objective": 0.5, "constraint_latency": -1.0,
                                      "trial_key": "s/t0", "status": "ok", "test_accuracy": 0.75})
    searcher.save(str(tmp_path / "checkpoint"))
    # After the checkpoint: a trial is told, another asked; then the driver dies.
    searcher.on_trial_complete("t1", {"objective": 0.25, "constraint_latency": 2.0})
    searcher.suggest("t3")

    restored = PointSearcher(POINTS, 3, None)
    restored.restore(str(tmp_path / "checkpoint"))
    restored.on_trial_complete("t1", {"objective": 0.25, "constraint_latency": 2.0})   # again
    restored.on_trial_complete("t2", {"objective": 0.75, "constraint_latency": -0.5})

    storage = open_storage(url)                        # what Optuna alone sees
    assert sorted(optuna.study.get_all_study_names(storage)) == ["s/p10", "s/p20"]
    p10 = optuna.load_study(study_name="s/p10", storage=storage)
    assert [t.value for t in p10.trials] == [0.5, 0.75]
    assert p10.trials[0].user_attrs == {"ray_trial_id": "t0", "trial_key": "s/t0", "status": "ok",
                                        "test_accuracy": 0.75, "constraint_latency": -1.0}
    assert p10.trials[1].constraints == {"latency": -0.5} and p10.best_trial.number == 1
    assert p10.user_attrs == {"sweep": "s", "results": "/store", "point": "p10",
                              "dataset": "basicmotions", "mcu": "nucleo-l552ze-q",
                              "latency_ms": 10.0, "memory_kb": None, "seed": 0}
    p20 = optuna.load_study(study_name="s/p20", storage=storage)
    # The trial asked after the checkpoint is no Tune trial's any more: failed, not left running.
    assert [t.state.name for t in p20.trials] == ["COMPLETE", "FAIL"]
    assert p20.best_trials == []                       # its only complete trial is infeasible
    # The same studies again (a sweep started over on the same storage) load, not duplicate.
    again = PointSearcher(POINTS, 3, OptunaSettings(trials_per_point=3), storage=open_storage(url),
                          sweep="s", attrs={"sweep": "s", "results": "/store"})
    assert len(again.studies()["p10"].trials) == 2
    assert not os.path.exists(url + ".lock")           # the journal's lock is released


WRITER = """
import sys, time, optuna
from optuna.storages import journal
optuna.logging.set_verbosity(optuna.logging.WARNING)
lock = getattr(journal, sys.argv[4])(sys.argv[1])
storage = optuna.storages.JournalStorage(journal.JournalFileBackend(sys.argv[1], lock_obj=lock))
while time.time() < float(sys.argv[5]):   # both writers start together, imports done
    time.sleep(0.005)
study = optuna.create_study(study_name=sys.argv[2], storage=storage, load_if_exists=True)
for i in range(int(sys.argv[3])):
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("trial_key", f"{sys.argv[2]}/{i}")
    study.tell(trial, trial.params["x"])
    time.sleep(0.02)   # a trial's time: the other writer's records fall in between
"""


@pytest.mark.parametrize("lock", ["JournalFileSymlinkLock", "JournalFileOpenLock"])
def test_two_sweeps_write_one_journal_at_once(tmp_path, lock):
    """Two drivers (two sweeps whose `optuna.storage` names the same journal) append at the same
    time: the journal's lock keeps every record whole on this file system. Sweeps (and
    optuna-dashboard) take the default, the symlink lock; the O_EXCL lock works here too."""
    import time

    import optuna

    url, start = str(tmp_path / "shared.journal"), str(time.time() + 6)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"sweep{i}/p", "40", lock,
                                 start]) for i in range(2)]
    assert [w.wait(120) for w in writers] == [0, 0]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    for i in range(2):
        trials = optuna.load_study(study_name=f"sweep{i}/p", storage=storage).trials
        assert len(trials) == 40 and all(t.state.name == "COMPLETE" for t in trials)
        assert [t.user_attrs["trial_key"] for t in trials] == [f"sweep{i}/p/{n}" for n in range(40)]
    with open(url, "rb") as fh:
        lines = fh.read().splitlines()
    records = [json.loads(line) for line in lines]     # no torn or interleaved record
    writer = [r["worker_id"][:36] for r in records]     # (the writer's uuid)
    assert sum(a != b for a, b in itertools.pairwise(writer)) >= 10   # they wrote at once
    assert not os.path.exists(url + ".lock")


# --- a real sweep, opened by Optuna --------------------------------------------------------------
def _source(url: str, n: int = 5) -> None:
    dry_source(url, n)


def _dry_sweep_spec(tmp_path, lut_folder, **keys):
    """A store with the L552's LUT and a dry sweep spec over basicmotions drawing from real rows:
    (store URL, spec path)."""
    from lut_store import Lut

    source, store = str(tmp_path / "real"), str(tmp_path / "store")
    _source(source)
    Lut.read(lut_folder, "nucleo-l552ze-q").write(f"{store}/lut")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"storage": store, "dry": source, "datasets": ["basicmotions"],
                                    "mcus": ["nucleo-l552ze-q"], **keys}))
    return store, spec



@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_optuna_opens_a_sweeps_studies(tmp_path, lut_folder, capsys):
    """A dry sweep (real Tune, real studies; each trial's figures drawn from real rows) on a local
    store: its studies open with optuna.load_study and draw with optuna.visualization."""
    import matplotlib
    matplotlib.use("Agg")
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    from orchestrator._optuna import load_study_hint
    from orchestrator._store import ResultsStore
    from orchestrator.cli import main

    store, spec = _dry_sweep_spec(tmp_path, lut_folder, name="opt",
                                  budgets={"latency_ms": [10, 20], "memory_kb": [16]},
                                  resources={"cpus_per_trial": 0.5, "max_concurrent_trials": 2},
                                  optuna={"trials_per_point": 3, "startup_trials": 2})

    assert main(["sweep", str(spec), "--quiet"]) == 0
    out = capsys.readouterr().out
    journal = os.path.join(store, "optuna", "opt.journal")
    assert f"Optuna studies: {journal}" in out and f"optuna-dashboard {journal}" in out
    assert "in Python: optuna.load_study(study_name='opt/basicmotions-" in out

    name = "opt/basicmotions-nucleo-l552ze-q-10ms-16kb-seed0"
    study = optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal)))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3 and all(isinstance(t.value, float) for t in done)
    assert set(done[0].params) == {"latency_over", "memory_over", "tau_end"}
    assert all(t.constraints for t in done)            # feasibility, as the sampler saw it
    rows = ResultsStore(store).read(dry=True).set_index("trial_key")
    for t in done:                                     # each trial names its row
        assert rows.loc[t.user_attrs["trial_key"], "optuna_trial"] == t.number
    assert study.user_attrs["sweep"] == "opt" and study.user_attrs["latency_ms"] == 10.0
    ax = plot_optimization_history(study)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert sum(len(c.get_offsets()) for c in ax.collections) >= 2   # the trials, drawn
    matplotlib.pyplot.close("all")

    # The printed hint is Python that runs as it is.
    ns = {"optuna": optuna}
    exec(f"study = {load_study_hint(journal, name)}", ns)  # noqa: S102 - our own hint, tested
    assert len(ns["study"].trials) == 3

    # Running the finished sweep again adds no trial to its studies; --json names the storage.
    assert main(["sweep", str(spec), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["optuna_storage"] == journal
    assert summary["optuna_dashboard"] == f"optuna-dashboard {journal}"
    assert len(optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal))).trials) == 3


def test_a_killed_sweep_resumes_its_studies(tmp_path, lut_folder):
    """The driver dies mid-sweep (SIGKILL): `--resume` continues the same studies in the journal,
    and in the end every trial of the study is a row, none is left running."""
    import signal
    import time

    import optuna

    from orchestrator._store import ResultsStore
    from orchestrator.cli import main

    store, spec = _dry_sweep_spec(tmp_path, lut_folder, name="killed",
                                  budgets={"latency_ms": [10], "memory_kb": [16]},
                                  resources={"cpus_per_trial": 1, "max_concurrent_trials": 1},
                                  optuna={"trials_per_point": 8, "startup_trials": 2})
    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(spec),
                               "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    rows = ResultsStore(store)
    try:
        deadline = time.monotonic() + 300
        while len(rows.read(dry=True)) < 2:
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(30)
    assert 2 <= len(rows.read(dry=True)) < 8

    assert main(["sweep", str(spec), "--resume", "--quiet"]) == 0
    done = rows.read(dry=True)
    assert len(done) == 8 and done["trial_key"].is_unique
    journal = os.path.join(store, "optuna", "killed.journal")
    study = optuna.load_study(
        study_name="killed/basicmotions-nucleo-l552ze-q-10ms-16kb-seed0",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal)))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    assert sorted(t.user_attrs["trial_key"] for t in complete) == sorted(done["trial_key"])
    assert sorted(done["optuna_trial"]) == sorted(t.number for t in complete)
