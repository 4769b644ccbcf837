"""Retrained networks shared between runs (`SearchRun(networks=...)`): a run that derives an
architecture another run already retrained with the same data and retraining settings takes that
network instead of training it again — on small synthetic windows (mechanics only)."""

import numpy as np
import pytest
import torch

from lut_store import InputError
from search_core import HardwareLoss, BudgetPenalty, RetrainStage, SearchConfig, SearchRun, \
    SearchStage, run_stages
from search_core._retrain import TrainOutcome, retrain_key
from search_core.metrics import predict
from _synthetic import tiny_dataset

CFG = SearchConfig(epochs=2, warmup_epochs=1, retrain_epochs=2, batch_size=16)


class _Cache:
    """What a sweep's store is to the stage: get/put by key (here a dict that counts puts)."""

    def __init__(self):
        self.files, self.puts = {}, 0

    def get(self, key):
        return self.files.get(key)

    def put(self, key, data):
        self.files[key] = data
        self.puts += 1


def _run(cfg, data, latency, cache):
    run = SearchRun(config=cfg, lat_ms=30, mem_kb=32, data=data, latency=latency, networks=cache)
    return run_stages([SearchStage(), RetrainStage()], run)


def test_a_second_run_with_the_same_architecture_reuses_the_network(l552_latency, monkeypatch):
    data, cache = tiny_dataset(), _Cache()
    first = _run(CFG, data, l552_latency, cache)
    assert first.network["reused"] is False and cache.puts == 1
    assert first.result["network"] == first.network

    # Another trial that derives the same architecture (same seed, same data; its loss weights
    # would not matter: test_the_key_follows_what_retraining_depends_on) takes the network from
    # the cache without training.
    import search_core._retrain as retraining
    monkeypatch.setattr(retraining, "retrain", lambda *a, **k: pytest.fail("retrained again"))
    second = _run(CFG, data, l552_latency, cache)
    assert second.derivation.architecture.to_json() == first.derivation.architecture.to_json()
    assert second.network == {"key": first.network["key"], "reused": True} and cache.puts == 1
    x = data.x_test
    np.testing.assert_array_equal(predict(second.trained.network, x),
                                  predict(first.trained.network, x))
    assert second.result["val_accuracy"] == first.result["val_accuracy"]
    assert second.result["network"]["reused"] is True


def test_a_damaged_cached_network_is_retrained_and_replaced(l552_latency):
    data, cache = tiny_dataset(), _Cache()
    first = _run(CFG, data, l552_latency, cache)
    cache.files[first.network["key"]] = b"torn"
    again = _run(CFG, data, l552_latency, cache)
    assert again.network["reused"] is False and cache.puts == 2
    TrainOutcome.from_bytes(cache.files[first.network["key"]])   # readable again


def test_the_key_follows_what_retraining_depends_on():
    from search_core.space import SearchSpace
    data = tiny_dataset()
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    arch = space.largest()
    base = retrain_key(arch, data, CFG)
    same = {"loss": HardwareLoss(BudgetPenalty(over=3.0)), "epochs": 9, "tau_end": 0.2,
            "arch_every": 2, "fill_budget": False, "shared_search_epochs": 3}
    for field, value in same.items():
        cfg = SearchConfig(**{**CFG.to_dict(), "loss": CFG.loss, field: value})
        assert retrain_key(arch, data, cfg) == base, field
    for field, value in {"retrain_epochs": 3, "retrain_lr": 0.02, "seed": 1, "augment": False,
                         "distill": 0.5, "batch_size": 32}.items():
        cfg = SearchConfig(**{**CFG.to_dict(), "loss": CFG.loss, field: value})
        assert retrain_key(arch, data, cfg) != base, field
    assert retrain_key(space.smallest(), data, CFG) != base
    assert retrain_key(arch, tiny_dataset(seed=3), CFG) != base
    # The shared supernet counts only where the network inherits its weights from it.
    assert retrain_key(arch, data, CFG, shared_key="abc") == base
    inherited = SearchConfig(**{**CFG.to_dict(), "loss": CFG.loss, "retrain_from": "inherited"})
    assert retrain_key(arch, data, inherited, "abc") != retrain_key(arch, data, inherited, "xyz")


def test_trained_network_bytes_round_trip_and_refuse_garbage():
    from search_core.space import SearchSpace
    from search_core.supernet import Network
    data = tiny_dataset()
    arch = SearchSpace(data.window, data.n_channels, data.n_classes).largest()
    torch.manual_seed(0)
    net = Network(arch, batch_norm=True).fold_batch_norm().eval()
    done = TrainOutcome(net, 0.5, 3, 1.5, {"accuracy": 0.5}, "cpu")
    back = TrainOutcome.from_bytes(done.to_bytes())
    assert (back.val_accuracy, back.epochs, back.val_scores) == (0.5, 3, {"accuracy": 0.5})
    np.testing.assert_array_equal(predict(back.network, data.x_test), predict(net, data.x_test))
    with pytest.raises(InputError, match="networks/k.pt: not a trained network"):
        TrainOutcome.from_bytes(b"garbage", "networks/k.pt")
