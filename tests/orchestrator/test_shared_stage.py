"""The shared-supernet stage: trained once per key in a store (racing workers, two sweeps), a
killed owner resumed from its checkpoint, a dead owner's lease taken over; and a real
`sharing: supernet` sweep on local Ray over a real S3 server process."""

import json
import threading

import numpy as np
import pytest
import torch

from lut_store import storage
from orchestrator._shared import LEASE, ensure_shared, load_shared, shared_folder
from search_core import SearchConfig, shared_key, train_shared
from _synthetic import tiny_dataset

CFG = SearchConfig(shared_epochs=2, batch_size=16, dropout=0.0)


_tiny = tiny_dataset


def _same(a, b):
    for name, value in a.weights.items():
        torch.testing.assert_close(b.weights[name], value)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_racing_workers_train_it_once(where, tmp_path, request):
    store = str(tmp_path / "store") if where == "local" else \
        f"s3://{request.getfixturevalue('s3_bucket')}/store"
    data = _tiny()
    out = [None] * 3

    def work(i):
        out[i] = ensure_shared(store, data, CFG, f"worker-{i}", poll_s=0.05)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o["trained_here"] for o in out) == 1
    assert len({o["url"] for o in out}) == 1 and out[0]["key"] == shared_key(data, CFG)
    _same(train_shared(data, CFG), load_shared(out[0]["url"]))
    folder = shared_folder(store, out[0]["key"])
    assert not storage.exists(storage.join(folder, LEASE))          # released
    # A later sweep reuses it.
    assert ensure_shared(store, data, CFG, "later")["trained_here"] is False


def test_a_killed_owner_resumes_its_checkpoint(tmp_path):
    store, data = str(tmp_path / "store"), _tiny()

    def die_after_first_epoch(row):
        if row["epoch"] == 2:     # epoch 1's checkpoint is written; epoch 2 is lost
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_shared(store, data, CFG, "owner", progress=die_after_first_epoch)
    # Somebody else waits on the live lease instead of training it too ...
    waiter = threading.Thread(target=lambda: ensure_shared(store, data, CFG, "other", poll_s=0.05))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive()
    # ... the owner's retry resumes after epoch 1 and ends with the uninterrupted weights.
    info = ensure_shared(store, data, CFG, "owner")
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert info["trained_here"] and info["resumed_from_epoch"] == 1
    _same(train_shared(data, CFG), load_shared(info["url"]))


def test_a_dead_owners_lease_is_taken_over(tmp_path):
    store, data = str(tmp_path / "store"), _tiny()
    lease = storage.join(shared_folder(store, shared_key(data, CFG)), LEASE)
    storage.write_bytes(lease, json.dumps({"token": "gone", "heartbeat": 0}).encode())
    info = ensure_shared(store, data, CFG, "new", stale_s=60)
    assert info["trained_here"] and info["resumed_from_epoch"] is None


@pytest.mark.s3
def test_sharing_sweep_on_s3_trains_one_supernet_and_survives_a_killed_worker(
        s3_bucket, l552_lut, tmp_path, monkeypatch):
    from orchestrator._spec import parse_spec
    from orchestrator._store import ResultsStore
    from orchestrator._sweep import Sweep

    store = f"s3://{s3_bucket}/team/sweeps"
    l552_lut.write(f"{store}/lut")
    marker = tmp_path / "killed"
    monkeypatch.setenv("MICRONAS_TEST_KILL_SHARED", str(marker))

    def spec(name):
        return parse_spec({
            "name": name, "storage": store, "datasets": ["basicmotions"],
            "mcus": ["nucleo-l552ze-q"], "sharing": "supernet",
            "budgets": {"latency_ms": [11, 20], "memory_kb": [6]}, "seeds": [0],
            "search": {"shared_epochs": 3, "shared_search_epochs": 2, "arch_every": 1,
                       "retrain_from": "inherited", "inherited_retrain_epochs": 2},
            "deploy": {"qat_epochs": 0, "calibration_windows": 32, "max_accuracy_drop": 100},
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}, "max_failures": 1})

    first = Sweep(spec("share-a")).run(verbose=0, say=lambda line: None)
    assert marker.exists()                        # the training worker was killed once ...
    (info,) = first["shared"].values()
    assert info["trained_here"] and info["resumed_from_epoch"] == 1   # ... and resumed
    rows = ResultsStore(store).read(sweep="share-a")
    assert len(rows) == 2 and set(rows["status"]) == {"ok"}, rows[["status", "reason"]]
    assert set(rows["shared_key"]) == {info["key"]}
    arts = [json.loads(storage.read_bytes(storage.join(a, "result.json")))
            for a in rows["artifacts"]]
    assert all(r["shared"] == info["key"] and r["timings"]["retrain_epochs"] == 2 for r in arts)
    assert all(len(r["search_history"]) == 2 for r in arts)     # no warm-up: 2 epochs
    # Another sweep on the same store reuses the supernet.
    second = Sweep(spec("share-b")).run(verbose=0, say=lambda line: None)
    (again,) = second["shared"].values()
    assert again["key"] == info["key"] and not again["trained_here"]
    # ... and the networks its trials retrained: the same points derive the same architectures
    # on the same weights, so nothing is retrained (the networks live on S3, in networks/).
    later = ResultsStore(store).read(sweep="share-b")
    assert set(later["status"]) == {"ok"} and later["network_reused"].all()
    assert set(later["network_key"]) == set(rows["network_key"])
    assert all(storage.exists(f"{store}/networks/{k}.pt") for k in rows["network_key"])
    assert (later["retrain_cpu_s"] < rows["retrain_cpu_s"].min()).all()
