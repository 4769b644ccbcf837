"""The sensing front end (search_core.data._front_end): sensors named by the channels, decimation
with a causal anti-alias FIR on the whole recording, the record a data set and its bundle carry —
on the real UCI HAPT recordings where a loader is involved, on synthetic tones for the filter."""

import numpy as np
import pytest

from search_core.data import FrontEnd, InputError, front_end_of, load_dataset, sensor_groups
from search_core.data._front_end import Decimator, sensor_of

UCIHAR = ("total_acc_x", "total_acc_y", "total_acc_z", "body_acc_x", "body_acc_y", "body_acc_z",
          "body_gyro_x", "body_gyro_y", "body_gyro_z")


def test_sensors_come_from_the_channel_names():
    assert [sensor_of(c) for c in ("body_gyro_x", "acc-x", "AccX", "magnetometer_z", "temp")] == \
        ["gyro", "acc", "acc", "mag", None]
    assert sensor_groups(UCIHAR) == {"acc": [0, 1, 2, 3, 4, 5], "gyro": [6, 7, 8]}


def _tone(hz, rate=50.0, seconds=20.0):
    t = np.arange(int(rate * seconds)) / rate
    return np.sin(2 * np.pi * hz * t)[:, None].astype(np.float64)


def test_decimation_keeps_the_pass_band_and_removes_what_would_alias():
    d = Decimator.between(50.0, 25.0, "test")
    assert (d.factor, d.rate_hz, len(d.taps)) == (2, 25.0, 17)
    assert abs(sum(d.taps) - 1.0) < 1e-9                      # unit gain at DC
    slow, fast = d(_tone(2.0)), d(_tone(20.0))               # 20 Hz would alias to 5 Hz at 25 Hz
    assert slow.shape == (500, 1)
    rms = lambda x: float(np.sqrt(np.mean(x[100:] ** 2)))    # noqa: E731 - past the start
    assert rms(slow) > 0.95 * rms(_tone(2.0)) and rms(fast) < 0.02 * rms(_tone(20.0))
    # Causal: a sample never depends on later ones.
    x = _tone(3.0)
    y = d(x)
    x2 = x.copy()
    x2[301:] = 0
    np.testing.assert_allclose(d(x2)[:151], y[:151])
    # A constant signal passes unchanged from the first sample (steady start).
    np.testing.assert_allclose(d(np.full((40, 2), 0.98)), np.full((20, 2), 0.98), rtol=1e-12)
    assert np.array_equal(d.labels(np.arange(10)), [0, 2, 4, 6, 8])
    assert Decimator.between(50.0, None, "test").factor == 1


@pytest.mark.parametrize("rate", [30, 0, -25, 60, "fast"])
def test_a_rate_that_is_no_whole_fraction_is_one_line(rate):
    with pytest.raises(InputError, match="rate_hz must be"):
        Decimator.between(50.0, rate, "ucihar")


def test_ucihar_with_another_front_end(tmp_path):
    full = load_dataset("ucihar", cache_dir=tmp_path)
    small = load_dataset("ucihar", cache_dir=tmp_path, window=32, step=16, rate_hz=25,
                         sensors=["acc"])
    assert small.channels == UCIHAR[:6] and small.sample_rate_hz == 25.0 and small.window == 32
    # The same recordings, half the rate, a quarter of the window, twice the windows per second.
    assert 1.8 < len(small.y_train) / len(full.y_train) < 2.4
    fe = FrontEnd.from_dict(small.front_end)
    assert (fe.sensors, fe.window_s, fe.step_s, fe.decimation) == (("acc",), 1.28, 0.64, 2)
    assert len(fe.anti_alias_taps) == 17 and fe.source_rate_hz == 50.0
    assert "decimated 2x from 50 Hz" in small.info["front_end"]
    assert front_end_of(full)["sensors"] == ["acc", "gyro"] and full.front_end["decimation"] == 1
    gyro = load_dataset("ucihar", cache_dir=tmp_path, sensors="gyro")
    assert gyro.channels == UCIHAR[6:] and gyro.window == 128
    # The cache keeps the record: a second load reads the same.
    assert load_dataset("ucihar", cache_dir=tmp_path, window=32, step=16, rate_hz=25,
                        sensors=["acc"]).front_end == small.front_end
    with pytest.raises(InputError, match=r"sensors must be some of acc, gyro .* got \['mag'\]"):
        load_dataset("ucihar", cache_dir=tmp_path, sensors=["mag"])


def test_pre_cut_windows_record_what_they_say():
    from _synthetic import tiny_dataset
    data = tiny_dataset()
    doc = front_end_of(data)
    assert doc["channels"] == list(data.channels) and doc["window"] == data.window
    assert doc["decimation"] == 1 and doc["step"] is None


def test_a_new_input_shape_is_priced_by_the_predictor_and_flagged(l552_latency):
    """UCI-HAR's own 128 x 9 input is measured in the L552's LUT; a 64 x 6 front end's networks
    are priced by the predictor, and the share says so (result.json and rows carry it)."""
    from search_core import CostModel, SearchSpace
    cost = CostModel(l552_latency)
    own, small = SearchSpace(128, 9, 6), SearchSpace(64, 6, 6)
    assert cost.predicted_share(own.largest()) == 0.0
    assert cost.predicted_share(small.largest()) > 0.5
    assert 0.0 <= cost.predicted_share(small.smallest()) <= 1.0
