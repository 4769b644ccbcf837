"""Sweeps of many searches on Ray Tune, Optuna tuning, the results store, Pareto reports and the
`micronas` command line. Ray and Optuna are imported only where a sweep needs them.

    from orchestrator import Sweep, load_spec, ResultsStore, ParetoFront
    Sweep(load_spec("examples/quickstart.yaml")).run()
    ResultsStore("runs/quickstart/store").read()
"""

from ._pareto import ParetoFront
from ._spec import OBJECTIVES, Point, SweepSpec, load_spec, parse_spec
from ._store import FAILED_STATUSES, ResultsStore, exit_code
from ._sweep import Sweep, objective_quality

__all__ = ["FAILED_STATUSES", "OBJECTIVES", "ParetoFront", "Point", "ResultsStore", "Sweep",
           "SweepSpec", "exit_code", "load_spec", "objective_quality", "parse_spec"]
