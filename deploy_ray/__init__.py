"""Running sweeps on a real Ray cluster: cluster configs (`cluster.yaml` for Ray's cluster
launcher, `kuberay/` for Kubernetes), the runtime environment (`runtime_env.yaml`), the job entry
point (`python -m deploy_ray.job SPEC`, what `ray job submit` runs) and a local multi-node cluster
on loopback for tests (`python -m deploy_ray.local_cluster`)."""

__all__: list[str] = []
