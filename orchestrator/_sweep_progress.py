"""What a person reads while a sweep runs: one line per finished trial and one progress bar.

    [3/8] ucihar nucleo-l552ze-q 25ms 64KB seed 0 optuna #1: ok, int8 88.4 % (float 88.9 %),
          24.9/25 ms, 8.0/64 KB, 0.8 min                                  (one line in reality)
    sweep quickstart [#######-------] 3/8 trials, 2 running, 4.1 min, ETA 7 min

Ray Tune's own status tables are off by default: they run to hundreds of lines, and their
"current best trial" compares trials of different boards and budgets, which means nothing here
(the best trial is per grid point: `micronas results`, the report). `micronas sweep --verbose`
brings them back. On a terminal the bar is redrawn in place on stderr; anywhere else (CI logs,
a file) there is no bar line, each trial line carries the count and the ETA instead, so a log
holds one line per trial.

`SweepProgress` is plain Python (tested on made-up trials); `progress_callback` wraps it in a
Ray Tune callback, built on demand so that importing this module does not import Ray.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

BAR_WIDTH = 24
REFRESH_S = 1.0   # the terminal bar is redrawn at most this often between trial events
_FINISHED = ("TERMINATED", "ERROR")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value, digits: int = 1) -> str | None:
    if _missing(value):
        return None
    return f"{value:.{digits}f}"


def _budget(value, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def point_label(config: dict) -> str:
    """The trial's grid point and Optuna number in the user's words (the trial's Tune config)."""
    p = config.get("point") or {}
    dataset = str(p.get("dataset", "?"))
    dataset = dataset.rsplit("/", 1)[-1].rsplit(".", 1)[0] if "/" in dataset else dataset
    parts = [dataset, str(p.get("mcu", "?")), _budget(p.get("latency_ms"), "ms"),
             _budget(p.get("memory_kb"), "KB"), f"seed {p.get('seed', '?')}"]
    if p.get("flash_kb") is not None:
        parts.insert(4, f"{p['flash_kb']:g}KB flash")
    if p.get("power_mw") is not None:
        parts.insert(-1, f"{p['power_mw']:g}mW")
    if p.get("front_end") is not None:   # the spec's front_ends entry the point reads
        parts.insert(1, f"[{p['front_end']}]")
    if p.get("method") not in (None, "micronas"):
        parts.append(str(p["method"]))
    number = config.get("optuna_trial")
    if number is not None and int(number) >= 0:
        parts.append(f"optuna #{int(number)}")
    return " ".join(parts)


def outcome(result: dict, config: dict) -> str:
    """Status, int8 and float accuracy, latency and memory against the budget, minutes."""
    status = result.get("status") or "?"
    p = config.get("point") or {}
    out = [status]
    int8, flt = _num(_pct(result.get("int8_accuracy"))), _num(_pct(result.get("test_accuracy")))
    proxy = _num(_pct(result.get("proxy_val_accuracy")))
    if status == "searched" and proxy is not None:   # `retrain: best`: scored, not retrained
        out.append(f"proxy val {proxy} %")
    if int8 is not None:
        out.append(f"int8 {int8} %" + (f" (float {flt} %)" if flt is not None else ""))
    elif flt is not None:
        out.append(f"float {flt} %")
    lat = result.get("verified_latency_ms")
    lat = result.get("latency_ms") if lat is None else lat
    mem = result.get("verified_memory_bytes")
    mem = result.get("peak_memory_bytes") if mem is None else mem
    if mem is not None and not _missing(result.get("input_buffer_bytes")):
        mem += result["input_buffer_bytes"]   # RAM, as the memory budget counts it
    if _num(lat, 2) is not None:
        out.append(f"{_num(lat, 2)}" + (f"/{p['latency_ms']:g}" if p.get("latency_ms") else "")
                   + " ms")
    if _num(mem) is not None:
        out.append(f"{_num(mem / 1024)}" + (f"/{p['memory_kb']:g}" if p.get("memory_kb") else "")
                   + " KB")
    if _num(result.get("wall_s")) is not None:
        out.append(f"{result['wall_s'] / 60:.1f} min")
    reason = result.get("reason")
    if reason and status != "ok":
        out.append(_short(str(reason)))
    return ", ".join(out)


def _pct(value):
    return None if _missing(value) else 100 * value


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"


class SweepProgress:
    """The trial lines and the bar of one sweep run.

    `total` is the sweep's number of trials; `say` prints a trial line (stdout); with `bar`, a
    terminal `stream` (stderr) gets the redrawn bar and any other stream an ETA on each line."""

    def __init__(self, name: str, total: int, say, *, bar: bool = True, stream=None,
                 clock=time.monotonic):
        self.name, self.total, self.say, self.clock = name, max(int(total), 0), say, clock
        self._stream = stream   # None: sys.stderr when drawn (Tune pickles its callbacks)
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = bar and tty            # a redrawn line on a terminal
        self.eta_on_lines = bar and not tty
        self.finished: set[str] = set()   # trial ids done (this run or an earlier one)
        self.finished_here = 0
        self.running = 0
        self.concurrency = 1              # the most trials seen running at once
        self.trial_s: list[float] = []    # the finished trials' own wall times
        self.start = clock()
        self._drawn = 0.0
        self._begun = False

    @property
    def stream(self):
        return sys.stderr if self._stream is None else self._stream

    # --- events ---------------------------------------------------------------------------
    def begin(self, finished_ids=()) -> None:
        """The run starts; `finished_ids`: trials a resumed sweep finished before."""
        if not self._begun:
            self._begun = True
            self.finished.update(finished_ids)
            self._draw(force=True)

    def trial_finished(self, trial_id: str, config: dict, result: dict,
                       error: str | None = None) -> None:
        if trial_id in self.finished:
            return
        self.finished.add(trial_id)
        self.finished_here += 1
        if error is None and not _missing(result.get("wall_s")):
            self.trial_s.append(float(result["wall_s"]))
        self.running = max(self.running - 1, 0)
        text = f"FAILED, {error}" if error is not None else outcome(result, config)
        self._line(f"{self._count()} {point_label(config)}: {text}")

    def trial_retried(self, trial_id: str, config: dict, failures: int) -> None:
        self._line(f"{' ' * len(self._count())} {point_label(config)}: failed "
                   f"(try {failures}), retrying from its last checkpoint")

    def tick(self, running: int) -> None:
        """Between events: redraw the terminal bar (throttled) with the trials running now."""
        self.running = running
        self.concurrency = max(self.concurrency, running)
        self._draw()

    def close(self) -> None:
        if self.bar:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.bar = False

    # --- text -----------------------------------------------------------------------------
    def _count(self) -> str:
        width = len(str(self.total))
        return f"[{len(self.finished):>{width}}/{self.total}]"

    def eta(self) -> str:
        left = self.total - len(self.finished)
        if left <= 0:
            return "done"
        if not self.finished_here:
            return "ETA -"
        if self.trial_s and sum(self.trial_s) > 0:
            # The trials left, run as many at a time as ran so far, each as long as those done:
            # right from the first trial on (the rate since the start counts Ray's start-up
            # and, before a batch of concurrent trials ends, too few of them).
            seconds = left * (sum(self.trial_s) / len(self.trial_s)) / self.concurrency
        else:
            seconds = left * (self.clock() - self.start) / self.finished_here
        return f"ETA {_minutes(seconds)}"

    def bar_text(self) -> str:
        done = len(self.finished)
        filled = round(BAR_WIDTH * done / self.total) if self.total else BAR_WIDTH
        running = f", {self.running} running" if self.running else ""
        return (f"sweep {self.name} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] "
                f"{done}/{self.total} trials{running}, {_minutes(self.clock() - self.start)}, "
                f"{self.eta()}")

    def _line(self, text: str) -> None:
        if self.eta_on_lines:
            text += f"  | {self.eta()}"
        if self.bar:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.say(text)
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        if not self.bar:
            return
        now = self.clock()
        if not force and now - self._drawn < REFRESH_S:
            return
        self._drawn = now
        self.stream.write("\r" + self.bar_text() + "\x1b[K")
        self.stream.flush()


def progress_callback(progress: SweepProgress):
    """`progress` as a Ray Tune callback (the class is built here: Ray only when a sweep runs)."""
    from ray.tune import Callback

    class TrialLines(Callback):
        def on_step_begin(self, iteration, trials, **info):
            progress.begin(t.trial_id for t in trials if t.status in _FINISHED)
            progress.tick(sum(t.status == "RUNNING" for t in trials))

        def on_trial_complete(self, iteration, trials, trial, **info):
            progress.begin()
            progress.trial_finished(trial.trial_id, trial.config, trial.last_result or {})

        def on_trial_recover(self, iteration, trials, trial, **info):
            progress.trial_retried(trial.trial_id, trial.config,
                                   trial.num_failures)

        def on_trial_error(self, iteration, trials, trial, **info):
            progress.begin()
            progress.trial_finished(trial.trial_id, trial.config, trial.last_result or {},
                                    error=f"see {trial.error_file or 'the Ray logs'} (after "
                                          f"{trial.num_failures} failed tries)")

        def on_experiment_end(self, trials, **info):
            progress.close()

    return TrialLines()


def use_callbacks(tuner, callbacks: list, verbose: int) -> None:
    """A restored Tuner runs with the callbacks and verbosity of the run that started the
    experiment (pickled with it): give it this run's. Tune has no public way to do so; the
    run config lives on its local tuner (`Tuner._local_tuner`, Ray 2.x)."""
    internal = getattr(tuner, "_local_tuner", None)
    config = internal.get_run_config() if internal is not None else None
    if config is not None:
        config.callbacks = list(callbacks)
        config.verbose = verbose


@contextlib.contextmanager
def quiet_tune(verbose: int):
    """Without `verbose`, no Tune output at all: Tune's newer console output prints its
    experiment box and result paths even at verbose=0; its older one prints nothing there. And
    Optuna's line per study created. With `verbose`, everything as Tune and Optuna print it."""
    if verbose:
        yield
        return
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    old = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"   # read by tune.run when the Tuner starts
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
        if old is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = old
