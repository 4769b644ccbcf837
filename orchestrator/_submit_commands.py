"""`micronas submit`: a sweep as a Ray job on a cluster — the same as

    ray job submit --address URL --working-dir DIR -- python -m deploy_ray.job SPEC

through Ray's job SDK: submit, stream the logs, exit with the job's status."""

from __future__ import annotations

import os
from pathlib import Path

from lut_store import InputError

ENTRYPOINT = "python -m deploy_ray.job"
# Never uploaded with the working dir: environments, outputs, caches, VCS data.
EXCLUDES = [".venv/", "runs/", ".git/", "**/__pycache__/", "*.egg-info/", ".pytest_cache/"]


def register(sub) -> None:
    p = sub.add_parser("submit", help="run a sweep spec as a job on a Ray cluster "
                                      "(equivalent to `ray job submit ... -- python -m deploy_ray.job SPEC`)")
    p.add_argument("spec", help="sweep spec (YAML) inside the working dir")
    p.add_argument("--address", default=os.environ.get("RAY_API_SERVER_ADDRESS") or
                   os.environ.get("RAY_ADDRESS"),
                   help="the cluster's dashboard URL, e.g. http://HEAD:8265 (default $RAY_ADDRESS)")
    p.add_argument("--working-dir", default=".", help="folder uploaded with the job (default .)")
    p.add_argument("--storage", help="results store URL overriding the spec's (credentials come "
                                     "from the cluster nodes' environment, never from here)")
    p.add_argument("--no-wait", action="store_true", help="submit and print the job id only")
    p.set_defaults(run=_submit)


def _submit(args) -> int:
    if not args.address:
        raise InputError("no cluster: pass --address http://HEAD:8265 (or set RAY_ADDRESS)")
    workdir = Path(args.working_dir).resolve()
    spec = Path(args.spec).resolve()
    if not workdir.is_dir():
        raise InputError(f"{args.working_dir}: not a folder")
    if not spec.is_file():
        raise InputError(f"{args.spec}: no such sweep spec")
    try:
        rel = spec.relative_to(workdir)
    except ValueError:
        raise InputError(f"{args.spec}: must lie inside the working dir {workdir} (it is uploaded "
                         f"with the job)") from None
    from ._spec import load_spec
    load_spec(spec, {"storage": args.storage})      # a bad spec fails here, not on the cluster

    from ray.job_submission import JobStatus, JobSubmissionClient

    try:
        client = JobSubmissionClient(args.address)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise InputError(f"{args.address}: no Ray cluster there ({str(exc).splitlines()[0][:200]})") \
            from None
    entry = f"{ENTRYPOINT} {rel.as_posix()}" + (f" --storage {args.storage}" if args.storage else "")
    job = client.submit_job(entrypoint=entry,
                            runtime_env={"working_dir": str(workdir), "excludes": EXCLUDES})
    print(f"submitted {job} to {args.address}", flush=True)
    if args.no_wait:
        return 0
    import asyncio

    async def follow():
        async for lines in client.tail_job_logs(job):
            print(lines, end="", flush=True)
    asyncio.run(follow())
    info = client.get_job_info(job)
    print(f"job {job}: {info.status}" + (f" ({info.message})" if info.message else ""), flush=True)
    return 0 if info.status == JobStatus.SUCCEEDED else 1
