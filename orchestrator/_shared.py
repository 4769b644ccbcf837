"""The shared-supernet stage of a `sharing: supernet` sweep: one budget-free supernet per
(data set, split, seed), trained once for the whole store and reused by every grid point's trial,
by a resumed sweep and by later sweeps (search_core.shared holds the training itself).

In the store, under `<storage>/shared/<key>/` (the key: data hash, space, training settings):

| file | what |
|---|---|
| `supernet.pt` | the finished weights (present = done; read with `weights_only=True`) |
| `checkpoint.pt` | the last epoch's resumable state while training |
| `lease.json` | who is training it (a token), and its heartbeat |

"Trained once" is arbitrated by the store: the lease is created with an exclusive write
(`lut_store.storage.create_exclusive`: O_EXCL locally, If-None-Match on S3), so of two workers —
of one sweep or of two sweeps started together — exactly one trains and the other waits for
`supernet.pt`. A worker killed mid-training is retried by Ray with the same token: it finds its own
lease and resumes from `checkpoint.pt`. A lease whose heartbeat is older than `stale_s` (its
owner died for good) is taken over, and the checkpoint is resumed.

Retrained networks are shared too (`NetworkStore`, `<storage>/networks/<key>.pt`, the key from
`search_core`'s `retrain_key`: data, architecture, retraining settings): Optuna's trials of one
point, and points of one board, mostly derive the same few architectures, and retraining is
two thirds of a trial. Two trials retraining the same network at once both train it (identical
files, written atomically); nothing waits on a lease, as nothing is lost but the duplicate work.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

from lut_store import storage

FINAL, CHECKPOINT, LEASE = "supernet.pt", "checkpoint.pt", "lease.json"
# Heartbeats are written every epoch (seconds to a minute on one core): a lease this old has
# lost its owner.
STALE_S = 900.0


# Tests kill the training worker once, right after its first checkpoint ("<marker file>"), to
# prove that Ray's retry resumes from the checkpoint and trains the supernet once.
KILL_ENV = "MICRONAS_TEST_KILL_SHARED"


def _injected_kill() -> None:
    import os
    marker = os.environ.get(KILL_ENV)
    if marker and not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("killed")
        os._exit(1)   # a dead worker, not an exception: Ray retries the task


def shared_folder(store_url: str, key: str) -> str:
    return storage.join(store_url, "shared", key)


def ensure_shared(store_url: str, data, config, token: str, *,
                  progress: Callable[[dict], None] | None = None, poll_s: float = 2.0,
                  stale_s: float = STALE_S) -> dict:
    """The URL of the finished shared supernet of (data, config) in the store, training it first
    if nobody has (and waiting if somebody is). Returns {"url", "key", "trained_here",
    "resumed_from_epoch", "seconds", "cpu_seconds"}."""
    from search_core import SharedSupernet, cpu_seconds, shared_key, train_shared

    key = shared_key(data, config)
    folder = shared_folder(store_url, key)
    final, lease_url, checkpoint_url = (storage.join(folder, n) for n in (FINAL, LEASE, CHECKPOINT))
    while True:
        if storage.exists(final):
            return {"url": final, "key": key, "trained_here": False, "resumed_from_epoch": None,
                    "seconds": 0.0, "cpu_seconds": 0.0}
        if storage.create_exclusive(lease_url, _lease(token)) or _owner(lease_url) == token:
            break
        holder = _read_lease(lease_url)
        if holder is not None and time.time() - holder.get("heartbeat", 0) > stale_s:
            storage.remove(lease_url)   # its owner is gone: take over (and resume its checkpoint)
            continue
        time.sleep(poll_s)

    resume = None
    if storage.exists(checkpoint_url):
        resume = SharedSupernet.from_bytes(storage.read_bytes(checkpoint_url), checkpoint_url)

    def checkpoint(state) -> None:
        storage.write_bytes(checkpoint_url, state.to_bytes())
        storage.write_bytes(lease_url, _lease(token))   # heartbeat
        _injected_kill()

    started, cpu = time.perf_counter(), cpu_seconds()
    done = train_shared(data, config, progress, resume=resume, checkpoint=checkpoint)
    storage.write_bytes(final, done.to_bytes())
    storage.remove(checkpoint_url)
    storage.remove(lease_url)
    return {"url": final, "key": key, "trained_here": True,
            "resumed_from_epoch": None if resume is None else resume.meta["epochs_done"],
            "seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds() - cpu}


def load_shared(url: str):
    from search_core import SharedSupernet
    return SharedSupernet.from_bytes(storage.read_bytes(url), url)


def _lease(token: str) -> bytes:
    return json.dumps({"token": token, "host": socket.gethostname(),
                       "heartbeat": time.time()}).encode()


def _read_lease(url: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(url))
    except Exception:  # noqa: BLE001 - gone meanwhile, or half-visible: look again
        return None


def _owner(url: str) -> str | None:
    lease = _read_lease(url)
    return None if lease is None else lease.get("token")


class NetworkStore:
    """The store's retrained networks, for `search_core.SearchRun(networks=...)`."""

    def __init__(self, store_url: str):
        self.folder = storage.join(store_url, "networks")

    def url(self, key: str) -> str:
        return storage.join(self.folder, f"{key}.pt")

    def get(self, key: str) -> bytes | None:
        url = self.url(key)
        return storage.read_bytes(url) if storage.exists(url) else None

    def put(self, key: str, data: bytes) -> None:
        storage.write_bytes(self.url(key), data)


def shared_label(dataset: str, seed: int, front_end: str | None = None) -> str:
    """A shared supernet's name in a sweep: its data set (at its front end) and seed."""
    return f"{dataset}{'' if front_end is None else f'-fe-{front_end}'}/seed{seed}"


def shared_token(spec, dataset: str, seed: int, front_end: str | None = None) -> str:
    """Who owns a lease: the sweep (by name) and its (data set, front end, seed). A retried task
    or a resumed sweep is the same owner and resumes its checkpoint; another sweep waits for it."""
    return f"{spec.name}/{shared_label(dataset, seed, front_end)}"


def shared_task(spec, dataset: str, seed: int, front_end: str | None = None) -> dict:
    """Ray task body of the shared stage (one per data set, front end and seed: each front end is
    its own input shape, so its own space and weights)."""
    import torch

    from search_core.data import load_dataset

    from ._spec import search_config

    torch.set_num_threads(max(1, int(spec.cpus_per_trial)))
    data = load_dataset(dataset, seed=seed, **spec.data_options(front_end))
    return ensure_shared(spec.storage, data, search_config(spec, seed, {}),
                         shared_token(spec, dataset, seed, front_end))
