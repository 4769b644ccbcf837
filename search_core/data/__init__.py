"""Data sets for the search: windows × time steps × sensor channels, split three ways, z-scored.

    from search_core.data import load_dataset
    ds = load_dataset("ucihar")            # (N, 128, 9), 6 classes, official test subjects
    ds = load_dataset("ucihar", **parse_protocol("paper-random"))   # leaky: only to compare
    ds = load_dataset("my_windows.npz")    # user data: X (N, C, T), y, optional subject/split/meta
    ds = load_dataset("recording.csv", window=128, step=64)   # a row per sample: subject, label, channels
    ds = load_dataset("ucihar", window=32, step=16, rate_hz=25, sensors=["acc"])   # a front end
    ds.x_train, ds.y_train, ds.summary()

Every bad input raises `InputError` (a ValueError) whose message names the file and the problem.
Files are read by our own parsers; no pickle from user input is ever loaded.
"""

from lut_store.errors import InputError

from ._dataset import MIN_WINDOW, Dataset, check_searchable
from ._front_end import SENSORS, FrontEnd, front_end_of, sensor_groups
from ._load import KNOWN_DATASETS, cuts_windows, front_end_options, load_dataset, options_for
from ._split import LEAKY, PROTOCOLS, parse_protocol, protocol_name
from ._windows import windows_from_recording

__all__ = ["Dataset", "FrontEnd", "InputError", "KNOWN_DATASETS", "LEAKY", "MIN_WINDOW",
           "PROTOCOLS", "SENSORS", "check_searchable", "front_end_of", "front_end_options",
           "options_for", "sensor_groups", "cuts_windows", "load_dataset", "parse_protocol", "protocol_name",
           "windows_from_recording"]
