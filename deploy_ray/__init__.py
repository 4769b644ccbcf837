"""Running sweeps on a real Ray cluster: cluster configs, runtime environment, job entry points."""

__all__: list[str] = []
