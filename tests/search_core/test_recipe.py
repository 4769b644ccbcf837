"""The retraining recipe's levers: augmentation, label smoothing, weight averaging, distillation
from a cached teacher, and the validation scores an objective is chosen from."""

import numpy as np
import pytest
import torch

from lut_store import InputError
from search_core import SearchConfig
from search_core._augment import Augmenter, sensor_triplets
from search_core._retrain import retrain
from _synthetic import tiny_dataset
from search_core.metrics import validation_scores
from search_core.teacher import teacher_architecture, teacher_for

CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "temp")


def test_sensor_triplets():
    assert sensor_triplets(CHANNELS) == [(0, 1, 2), (3, 4, 5)]
    assert sensor_triplets(("total_acc_x", "total_acc_y", "total_acc_z", "body_gyro_x")) == [(0, 1, 2)]
    assert sensor_triplets(("a", "b", "c")) == []


def test_augmenter_rotates_in_sensor_units_and_is_seeded():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=7).astype(np.float32), rng.uniform(0.5, 2, 7).astype(np.float32)
    x = torch.from_numpy(rng.normal(size=(16, 64, 7)).astype(np.float32))
    only_rotate = Augmenter(CHANNELS, mean, std, scale=0, jitter=0, warp=0, shift=0)
    y = only_rotate(x, torch.Generator().manual_seed(1))
    raw_x, raw_y = x * torch.from_numpy(std) + torch.from_numpy(mean), \
        y * torch.from_numpy(std) + torch.from_numpy(mean)
    for cols in ([0, 1, 2], [3, 4, 5]):   # a rotation keeps each sample's vector length ...
        torch.testing.assert_close(raw_y[..., cols].norm(dim=-1), raw_x[..., cols].norm(dim=-1),
                                   rtol=1e-4, atol=1e-4)
    assert (raw_y[..., :3] - raw_x[..., :3]).abs().max() > 1e-2   # ... and turns it
    torch.testing.assert_close(y[..., 6], x[..., 6])              # a lone channel stays
    full = Augmenter(CHANNELS, mean, std)
    a, b = full(x, torch.Generator().manual_seed(3)), full(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape and torch.isfinite(a).all()
    assert not torch.allclose(a, full(x, torch.Generator().manual_seed(4)))


def test_resample_shift_moves_the_window():
    x = torch.arange(32, dtype=torch.float32).reshape(1, 32, 1).repeat(64, 1, 1)
    aug = Augmenter(("v",), [0.0], [1.0], scale=0, jitter=0, rotate_deg=0, warp=0, shift=0.25)
    y = aug(x, torch.Generator().manual_seed(0))
    offsets = (y[:, 16, 0] - x[:, 16, 0])
    assert offsets.abs().max() <= 8 + 1e-5 and offsets.abs().max() > 2   # within ±25 % of 32


def _tiny(seed=0):
    return tiny_dataset(seed, n=96, channels=CHANNELS[:6])


def test_levers_train_and_average():
    data = _tiny()
    cfg = SearchConfig(retrain_epochs=3, augment=True, label_smoothing=0.1, ema_decay=0.9)
    arch = teacher_architecture(data)
    out = retrain(arch, data, cfg)
    assert out.epochs == 3 and set(out.val_scores) == {"accuracy", "macro_f1", "neg_log_loss"}
    assert out.val_scores["neg_log_loss"] < 0 and 0 <= out.val_scores["accuracy"] <= 1
    # The averaged network is the one kept, folded like any other (no BatchNorm left) ...
    assert all(c.bn is None for c in out.network.convs.values())
    # ... and it is not the last weights: the same run without averaging ends elsewhere.
    plain = retrain(arch, data, SearchConfig(retrain_epochs=3, augment=True, label_smoothing=0.1,
                                             ema_decay=0.0))
    w = lambda n: torch.cat([p.flatten() for p in n.parameters()])  # noqa: E731
    assert not torch.allclose(w(out.network), w(plain.network))


def test_validation_scores_are_the_networks():
    data = _tiny()

    class Oracle(torch.nn.Module):   # certain and right on every validation window
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.from_numpy(data.y_val), 3).float() * 50

    s = validation_scores(Oracle(), data)
    assert s["accuracy"] == 1.0 and s["macro_f1"] == 1.0 and -1e-6 < s["neg_log_loss"] <= 0


def test_config_rejects_bad_levers():
    for bad in ({"label_smoothing": 1.0}, {"ema_decay": -0.1}, {"distill": 1.5},
                {"distill_temperature": 0}):
        with pytest.raises(InputError):
            SearchConfig(**bad)


def test_teacher_is_trained_once_and_read_without_pickle(tmp_path):
    data = _tiny()
    cfg = SearchConfig(retrain_epochs=2, distill=0.5)
    first = teacher_for(data, cfg, str(tmp_path))
    assert not first.cached and first.logits.shape == (len(data.y_train), 3)
    assert first.url.endswith(".npz") and first.seconds > 0
    again = teacher_for(data, cfg, str(tmp_path))
    assert again.cached and np.array_equal(again.logits, first.logits)
    assert again.test_accuracy == first.test_accuracy
    with np.load(first.url, allow_pickle=False) as z:   # plain arrays only
        assert set(z.files) == {"logits", "meta"}
    # Other data, other teacher; a damaged entry is one clear line.
    other = teacher_for(_tiny(seed=1), cfg, str(tmp_path))
    assert other.url != first.url and not other.cached
    open(first.url, "wb").write(b"not an npz")
    with pytest.raises(InputError, match="unreadable teacher cache entry"):
        teacher_for(data, cfg, str(tmp_path))


def test_distillation_uses_the_teachers_soft_labels():
    data = _tiny()
    arch = teacher_architecture(data)
    wrong = np.zeros((len(data.y_train), 3), np.float32)
    wrong[np.arange(len(wrong)), (data.y_train + 1) % 3] = 20.0   # a teacher that is always wrong
    taught = retrain(arch, data, SearchConfig(retrain_epochs=4, distill=1.0), teacher_logits=wrong)
    honest = retrain(arch, data, SearchConfig(retrain_epochs=4))
    assert taught.val_accuracy < honest.val_accuracy
