"""One supernet for a grid: budget-free shared weights, point searches on them, inherited
retraining — on small synthetic windows (mechanics only)."""

import numpy as np
import pytest
import torch

from lut_store import InputError
from search_core import SearchConfig, SharedSupernet, shared_key, train_shared
from _synthetic import tiny_dataset
from search_core.hardware import Relaxation
from search_core.space import SearchSpace
from search_core.supernet import Network, inherit_weights
import random


_tiny = tiny_dataset


CFG = SearchConfig(shared_epochs=2, batch_size=16, dropout=0.0)


def test_inherited_network_computes_what_the_supernet_path_does():
    data = _tiny()
    shared = train_shared(data, CFG)
    supernet = shared.supernet(data).eval()
    rng = random.Random(1)
    x = torch.from_numpy(data.x_test[:8])
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    for arch in [space.largest(), space.smallest()] + [space.random(rng) for _ in range(8)]:
        net = inherit_weights(Network(arch, dropout=0.0), supernet).eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), supernet.forward_path(x, Relaxation.one_hot(arch)),
                                       rtol=1e-4, atol=1e-5)


def test_the_proxy_scores_the_delivered_network_with_the_weights_it_inherits():
    """`retrain: best` ranks a point's trials by path_scores: the validation scores that the
    network itself, given the supernet's weights, has (not some other readout)."""
    from search_core._dnas import path_scores
    from search_core.metrics import validation_scores

    data = _tiny()
    supernet = train_shared(data, CFG).supernet(data)
    space = SearchSpace(data.window, data.n_channels, data.n_classes)
    scores = {}
    for arch in (space.largest(), space.smallest()):
        got = path_scores(supernet, arch, data)
        net = inherit_weights(Network(arch, dropout=0.0), supernet)
        want = validation_scores(net, data)
        assert got == pytest.approx({f"val_{k}": v for k, v in want.items()}, rel=1e-4, abs=1e-5)
        assert 0 <= got["val_accuracy"] <= 1 and got["val_neg_log_loss"] <= 0
        scores[arch.to_json()] = got["val_neg_log_loss"]
    assert len(set(scores.values())) == 2   # two networks, two scores: it ranks


def test_shared_training_resumes_to_the_same_weights():
    data = _tiny()
    cfg = SearchConfig(shared_epochs=2, batch_size=16, dropout=0.3)   # dropout: the RNG resumes too
    whole = train_shared(data, cfg)
    kept = []
    first = train_shared(data, cfg, checkpoint=kept.append)
    assert len(kept) == 1 and kept[0].meta["epochs_done"] == 1 and not kept[0].complete
    # Through bytes, as the store keeps it (weights_only: tensors and JSON only).
    torch.manual_seed(123)   # whatever the process did meanwhile
    resumed = train_shared(data, cfg, resume=SharedSupernet.from_bytes(kept[0].to_bytes()))
    assert resumed.complete and resumed.key == whole.key == shared_key(data, cfg)
    for name, value in whole.weights.items():
        torch.testing.assert_close(resumed.weights[name], value)
        torch.testing.assert_close(first.weights[name], value)
    # A finished checkpoint is returned as it is; another data set's is refused.
    assert train_shared(data, cfg, resume=whole) is whole
    with pytest.raises(InputError, match="cannot resume"):
        train_shared(_tiny(seed=2), cfg, resume=kept[0])
    with pytest.raises(InputError, match="not a shared-supernet checkpoint"):
        SharedSupernet.from_bytes(b"garbage", "s3://b/shared/x.pt")


def test_key_ignores_budgets_and_search_settings_but_not_the_training():
    data = _tiny()
    base = shared_key(data, CFG)
    assert shared_key(data, SearchConfig(**{**CFG.to_dict(), "loss": CFG.loss, "arch_lr": 0.1,
                                            "retrain_epochs": 3})) == base
    assert shared_key(data, SearchConfig(**{**CFG.to_dict(), "loss": CFG.loss,
                                            "shared_epochs": 3})) != base
    assert shared_key(_tiny(seed=1), CFG) != base


def test_point_search_and_inherited_retraining_on_the_shared_weights(l552_latency):
    from search_core import DeployStage, RetrainStage, SearchRun, SearchStage, run_stages

    data = _tiny()
    shared = train_shared(data, CFG)
    cfg = SearchConfig(shared_epochs=2, shared_search_epochs=1, batch_size=16,
                       retrain_from="inherited", inherited_retrain_epochs=2, retrain_epochs=50)
    run = SearchRun(config=cfg, lat_ms=30, mem_kb=32, data=data, latency=l552_latency,
                    shared=lambda: shared)
    run_stages([SearchStage(), RetrainStage()], run)
    assert run.derivation.summary["shared"] == shared.key
    assert run.derivation.summary["search_history"][0]["searching"]   # no warm-up
    assert len(run.derivation.summary["search_history"]) == 1
    assert run.trained.epochs == 2 and run.result["fits"]
    # Inherited retraining needs the shared weights.
    with pytest.raises(InputError, match="needs a shared supernet"):
        run_stages([SearchStage(), RetrainStage()],
                   SearchRun(config=cfg, lat_ms=30, mem_kb=32, data=data, latency=l552_latency))
