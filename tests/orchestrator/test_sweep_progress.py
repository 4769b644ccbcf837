"""What a person reads while a sweep runs (orchestrator/_sweep_progress.py): one line per finished
trial, with its point, status, accuracies, cost against the budget and minutes, and one progress
bar, redrawn on a terminal and folded into the trial lines anywhere else."""

import io
import os
from types import SimpleNamespace

from orchestrator._sweep_progress import SweepProgress, progress_callback, quiet_tune

POINT = {"dataset": "ucihar", "mcu": "nucleo-l552ze-q", "latency_ms": 25.0, "memory_kb": 64.0,
         "seed": 0}
OK = {"status": "ok", "int8_accuracy": 0.8841, "test_accuracy": 0.8887,
      "verified_latency_ms": 24.899, "verified_memory_bytes": 8160, "wall_s": 49.1}


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _progress(tty: bool, bar: bool = True, total: int = 4):
    lines, stream, clock = [], _Stream(tty), _Clock()
    return SweepProgress("qs", total, lines.append, bar=bar, stream=stream, clock=clock), \
        lines, stream, clock


def test_a_log_gets_one_line_per_trial_with_the_count_and_the_eta():
    """The ETA: the trials left x the mean time of those done / how many run at once."""
    progress, lines, stream, clock = _progress(tty=False)
    progress.begin()
    clock.now = 60.0
    progress.trial_finished("t1", {"point": POINT, "optuna_trial": 1}, OK)
    clock.now = 120.0
    progress.trial_finished("t2", {"point": {**POINT, "latency_ms": 50.0}, "optuna_trial": 0},
                            {"status": "failed", "reason": "InputError: the budget is too small",
                             "wall_s": 12.0})
    progress.trial_finished("t2", {"point": POINT}, OK)   # reported twice: counted once
    assert lines == [
        ("[1/4] ucihar nucleo-l552ze-q 25ms 64KB seed 0 optuna #1: ok, int8 88.4 % (float 88.9 %), "
         "24.90/25 ms, 8.0/64 KB, 0.8 min  | ETA 2.5 min"),
        ("[2/4] ucihar nucleo-l552ze-q 50ms 64KB seed 0 optuna #0: failed, 0.2 min, "
         "InputError: the budget is too small  | ETA 1.0 min")]
    assert stream.getvalue() == ""                        # no bar lines in a log


def test_a_terminal_gets_the_lines_and_one_redrawn_bar():
    progress, lines, stream, clock = _progress(tty=True)
    progress.begin()
    assert stream.getvalue() == "\rsweep qs [------------------------] 0/4 trials, 0.0 min, ETA -\x1b[K"
    progress.tick(running=2)                              # throttled: within a second
    clock.now = 30.0
    progress.tick(running=2)
    assert stream.getvalue().endswith("0/4 trials, 2 running, 0.5 min, ETA -\x1b[K")
    # 3 left, 2 at a time, 49 s each: 1.2 min
    clock.now = 90.0
    progress.trial_finished("t1", {"point": POINT, "optuna_trial": 1}, OK)
    assert lines[0].startswith("[1/4] ucihar") and "ETA" not in lines[0]   # the bar has it
    assert stream.getvalue().endswith(
        "\rsweep qs [######------------------] 1/4 trials, 1 running, 1.5 min, ETA 1.2 min\x1b[K")
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K")         # the summary starts on a clean line


def test_without_a_bar_only_the_lines():
    progress, lines, stream, _ = _progress(tty=True, bar=False)
    progress.begin()
    progress.trial_finished("t1", {"point": {**POINT, "latency_ms": None, "memory_kb": None},
                                   "optuna_trial": -1},
                            {"status": "ok", "test_accuracy": 0.5, "latency_ms": 3.0,
                             "peak_memory_bytes": 2048})
    progress.trial_finished("t2", {"point": {**POINT, "flash_kb": 512.0, "method": "darts"}},
                            {"status": "over_budget", "reason": "over the budget: latency 30 ms"})
    progress.trial_finished("t3", {"point": {**POINT, "latency_ms": None, "power_mw": 0.6,
                                             "front_end": "acc-25hz"}},
                            {"status": "ok", "test_accuracy": 0.5, "latency_ms": 3.0,
                             "peak_memory_bytes": 2048, "input_buffer_bytes": 1024})
    assert lines == ["[1/4] ucihar nucleo-l552ze-q - - seed 0: ok, float 50.0 %, 3.00 ms, 2.0 KB",
                     ("[2/4] ucihar nucleo-l552ze-q 25ms 64KB 512KB flash seed 0 darts: "
                      "over_budget, over the budget: latency 30 ms"),
                     ("[3/4] ucihar [acc-25hz] nucleo-l552ze-q - 64KB 0.6mW seed 0: ok, "
                      "float 50.0 %, 3.00 ms, 3.0/64 KB")]
    assert stream.getvalue() == ""


def test_a_resumed_sweep_counts_the_trials_finished_before():
    progress, lines, _, clock = _progress(tty=False)
    progress.begin(["a", "b"])
    clock.now = 100.0   # no trial time: the ETA from the trials finished per minute of this run
    progress.trial_finished("c", {"point": POINT}, {**OK, "wall_s": None})
    assert lines[0].startswith("[3/4] ") and lines[0].endswith("| ETA 1.7 min")


def test_the_tune_callback_on_a_fake_trial_sequence():
    progress, lines, _, clock = _progress(tty=False, total=3)
    callback = progress_callback(progress)

    def trial(tid, status, number, result=None, error_file=None, failures=0):
        return SimpleNamespace(trial_id=tid, status=status, last_result=result or {},
                               config={"point": POINT, "optuna_trial": number},
                               error_file=error_file, num_failures=failures)

    done = trial("a0", "TERMINATED", 0)                  # finished before a resume
    running = [trial("b1", "RUNNING", 1, OK), trial("c2", "RUNNING", 2)]
    callback.on_step_begin(iteration=0, trials=[done, *running])
    clock.now = 120.0
    running[0].status = "TERMINATED"
    callback.on_trial_complete(iteration=1, trials=[done, *running], trial=running[0])
    running[1].num_failures = 1
    callback.on_trial_recover(iteration=2, trials=[done, *running], trial=running[1])
    running[1].num_failures, running[1].error_file = 2, "/x/error.txt"
    callback.on_trial_error(iteration=3, trials=[done, *running], trial=running[1])
    callback.on_experiment_end(trials=[done, *running])
    assert lines[0].startswith("[2/3] ucihar nucleo-l552ze-q 25ms 64KB seed 0 optuna #1: ok")
    assert lines[1].startswith("      ucihar nucleo-l552ze-q 25ms 64KB seed 0 optuna #2: "
                               "failed (try 1), retrying from its last checkpoint")
    assert lines[2] == ("[3/3] ucihar nucleo-l552ze-q 25ms 64KB seed 0 optuna #2: FAILED, see "
                        "/x/error.txt (after 2 failed tries)  | done")
    assert len(lines) == 3


def test_quiet_tune_silences_only_inside(monkeypatch):
    import optuna

    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    level = optuna.logging.get_verbosity()
    with quiet_tune(0):
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    assert "RAY_AIR_NEW_OUTPUT" not in os.environ and optuna.logging.get_verbosity() == level
    with quiet_tune(1):                                   # --verbose: Tune's own output
        assert "RAY_AIR_NEW_OUTPUT" not in os.environ
