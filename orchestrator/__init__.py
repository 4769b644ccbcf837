"""Sweeps of many searches on Ray Tune, Optuna tuning, the results store, Pareto reports and the
`micronas` command line. Ray and Optuna are imported only where a sweep needs them."""

__all__: list[str] = []
