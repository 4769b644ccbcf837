"""A real multi-node Ray cluster on loopback: a head and N worker nodes, each a separate
`ray start --block` process with its own ports and temp dir. Stops exactly the processes it started
(never `ray stop`, which would stop every Ray on the machine).

    python -m deploy_ray.local_cluster --workers 1 --cpus 1      # prints the addresses; Ctrl-C stops

    with LocalCluster(workers=1, cpus_per_node=1) as cluster:
        cluster.dashboard_url      # for `ray job submit --address ...`
        cluster.kill_node(1)       # SIGKILL a worker node's whole process tree (a node failure)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"
# A throwaway test cluster needs no token. Ray 2.60 lets a second node join only with
# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1, and with it resolves 127.0.0.1 to the host's own NIC
# address ("remotely reachable"); the traffic still never leaves this host. (With "0" on the head
# and "1" on the worker, the worker never registers.)
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", "RAY_USAGE_STATS_ENABLED": "0",
             "RAY_AUTH_MODE": "disabled"}


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (Linux; no psutil needed)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are still alive."""
    if not Path(f"/proc/{pid}").exists():
        return []
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _free_range(width: int = 40) -> tuple[int, int]:
    """A block of consecutive free ports for a node's workers (checked, not assumed)."""
    import random
    for _ in range(200):
        low = random.randrange(20000, 60000 - width)
        ok = True
        for port in range(low, low + width):
            with socket.socket() as s:
                try:
                    s.bind((LOOPBACK, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return low, low + width - 1
    raise RuntimeError("no free port range for Ray workers")


class LocalCluster:
    def __init__(self, workers: int = 1, cpus_per_node: int = 1, env: dict | None = None,
                 ray_exe: str | None = None, startup_timeout: float = 60.0):
        self.workers = workers
        self.cpus = cpus_per_node
        self.ray = ray_exe or str(Path(sys.executable).with_name("ray"))
        # Job entry points run `python` from the nodes' PATH: make it this environment's.
        path = f"{Path(self.ray).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env = {**os.environ, "PATH": path, **LOCAL_ENV, **(env or {})}
        self.timeout = startup_timeout
        self.root = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))  # short: socket paths
        self.nodes: list[subprocess.Popen] = []
        self.gcs_port = self.dashboard_port = None

    # --- addresses -------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> "LocalCluster":
        try:
            self.gcs_port, self.dashboard_port, client = _free_ports(3)[:3]
            self._start_node(head=True, extra=[
                "--head", f"--port={self.gcs_port}", "--include-dashboard=true",
                f"--dashboard-host={LOOPBACK}", f"--dashboard-port={self.dashboard_port}",
                f"--ray-client-server-port={client}"])
            self._wait_for_dashboard()
            for _ in range(self.workers):
                self._start_node(head=False, extra=[f"--address={self.address}"])
            self._wait_for_nodes(1 + self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, head: bool, extra: list[str]) -> None:
        index = len(self.nodes)
        node_mgr, obj_mgr, agent_listen, agent_grpc, runtime_env, metrics = _free_ports(6)
        low, high = _free_range()
        temp = self.root / f"n{index}"
        temp.mkdir()
        cmd = [self.ray, "start", "--block", f"--node-ip-address={LOOPBACK}",
               f"--num-cpus={self.cpus}", f"--temp-dir={temp}",
               f"--node-manager-port={node_mgr}", f"--object-manager-port={obj_mgr}",
               f"--dashboard-agent-listen-port={agent_listen}",
               f"--dashboard-agent-grpc-port={agent_grpc}",
               f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
               f"--min-worker-port={low}", f"--max-worker-port={high}",
               "--object-store-memory=200000000", "--disable-usage-stats", *extra]
        log = open(self.root / f"node{index}.log", "wb")
        # A session of its own: stopping the node signals exactly its process tree.
        self.nodes.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def _wait_for_dashboard(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                urllib.request.urlopen(f"{self.dashboard_url}/api/version", timeout=2).read()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"Ray head did not come up (log: {self.root / 'node0.log'})")

    def _wait_for_nodes(self, count: int) -> None:
        import json
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                body = urllib.request.urlopen(f"{self.dashboard_url}/nodes?view=summary",
                                              timeout=2).read()
                nodes = json.loads(body)["data"]["summary"]
                alive = [n for n in nodes if n.get("raylet", {}).get("state") == "ALIVE"]
                if len(alive) >= count:
                    return
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{count} Ray nodes did not register (logs in {self.root})")

    def _check_alive(self) -> None:
        for i, node in enumerate(self.nodes):
            if node.poll() is not None:
                raise RuntimeError(f"ray node {i} exited with {node.returncode} "
                                   f"(log: {self.root / f'node{i}.log'})")

    def node_pids(self, index: int) -> list[int]:
        """The `ray start` process of a node and every process below it."""
        return process_tree(self.nodes[index].pid)

    def kill_node(self, index: int) -> list[int]:
        """SIGKILL a node's whole process tree, by PID: a node failure, nothing graceful."""
        pids = self.node_pids(index)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def stop(self) -> None:
        """SIGTERM each node's `ray start --block` (it stops its node's processes), workers
        first; SIGKILL what is left of exactly those process trees."""
        for node in reversed(self.nodes):
            tree = process_tree(node.pid)
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(_alive(p) for p in tree[1:]):
                node.poll()
                time.sleep(0.2)
            for pid in tree:
                if _alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                node.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.nodes = []
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs per node")
    args = parser.parse_args(argv)
    with LocalCluster(args.workers, args.cpus) as cluster:
        print(f"Ray cluster: {1 + args.workers} nodes; GCS {cluster.address}; "
              f"jobs: ray job submit --address {cluster.dashboard_url} -- ...", flush=True)
        try:
            while True:
                time.sleep(1)
                cluster._check_alive()
        except KeyboardInterrupt:
            print("stopping the cluster", flush=True)


if __name__ == "__main__":
    main()
