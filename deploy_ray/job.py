"""The entry point that `ray job submit` runs on a cluster:

    ray job submit --address http://HEAD:8265 --working-dir . \\
        --runtime-env deploy_ray/runtime_env.yaml -- python -m deploy_ray.job examples/cluster.yaml

It connects with `ray.init()` and no arguments (inside a job Ray names the cluster), takes the
storage URL from the spec or from `$MICRONAS_STORAGE`, and credentials only from the nodes'
environment (never the command line, never logged).

Exit status (what `ray job submit` and a RayJob report as the job's outcome):

- 0: every trial ended in an outcome the sweep asked for: `ok`, `infeasible` (no network of the
  space meets that grid point's budget: recorded before any training, with the reason) or
  `over_budget` (a `darts` trial whose network exceeds the budget: DARTS has no hardware loss, so
  this is the baseline's result, stored with what it violates, not a fault);
- 1: some trial ended `failed` (an exception in a stage, after Tune's retries) or `deploy_failed`
  (the int8 model missed a deployment gate: parity, accuracy drop, budget on the artifact);
- 2: a bad spec or unreachable storage (one line on stderr), before the cluster does any work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from orchestrator import FAILED_STATUSES, exit_code  # noqa: F401 (the job's exit status)

STORAGE_ENV = "MICRONAS_STORAGE"
LUT_ENV = "MICRONAS_LUT"


def main(argv: list[str] | None = None) -> int:
    from lut_store import InputError

    parser = argparse.ArgumentParser(prog="deploy_ray.job", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="sweep spec (YAML), relative to the job's working dir")
    parser.add_argument("--verbose", action="store_true",
                        help="Ray Tune's status tables in the job's log, not just a line per trial")
    parser.add_argument("--storage", default=os.environ.get(STORAGE_ENV),
                        help=f"results store URL (default: the spec's, or ${STORAGE_ENV})")
    parser.add_argument("--lut", default=os.environ.get(LUT_ENV),
                        help=f"LUT folder URL (default: the spec's, <storage>/lut, or ${LUT_ENV})")
    args = parser.parse_args(argv)
    try:
        import ray

        from orchestrator import Sweep, load_spec

        spec = load_spec(args.spec, {"storage": args.storage, "lut": args.lut})
        sweep = Sweep(spec)
        plan = sweep.check()                 # before the cluster does any work
        ray.init()                           # a job names its cluster: no arguments
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        trials = f"{plan.trials} grid points x {spec.trials_per_point} trial(s)" \
            if len(spec.methods) == 1 else (
                f"{plan.trials} grid points of {', '.join(spec.methods)}, "
                f"{spec.trial_count(plan.runnable)} trials ({spec.trials_per_point} per micronas "
                f"point, 1 per baseline point)")
        print(f"sweep {spec.name}: {trials} on "
              f"{len(nodes)} node(s), {ray.cluster_resources().get('CPU', 0):g} CPUs; results in "
              f"{spec.storage}", flush=True)
        summary = sweep.run(plan, verbose=1 if args.verbose else 0)
    except InputError as exc:
        print(f"deploy_ray.job: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "studies"}, default=str), flush=True)
    code = exit_code(summary["status"])
    if code:
        failed = ", ".join(f"{summary['status'][s]} {s}" for s in FAILED_STATUSES
                           if summary["status"].get(s))
        print(f"deploy_ray.job: {failed} trial(s); their reasons are in the results store "
              f"(micronas results --storage {spec.storage} --sweep {spec.name} --all)",
              file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
