"""The cluster configs validate offline: the launcher YAML against Ray's own schema (what `ray up`
checks first), the runtime env through Ray's RuntimeEnv, the KubeRay manifests structurally —
and nothing secret is written in any of them."""

import re
from pathlib import Path

import pytest
import yaml

import ray

from search_core._versions import pins

ROOT = Path(__file__).resolve().parents[2] / "deploy_ray"


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_cluster_launcher_yaml_validates_against_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _load("cluster.yaml")
    validate_config(prepare_config(config))            # raises on any schema violation
    bad = {**config, "max_workerz": 1}
    with pytest.raises(Exception, match="max_workerz"):
        validate_config(prepare_config(bad))
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])


def test_runtime_env_is_a_valid_ray_runtime_env():
    from ray.runtime_env import RuntimeEnv

    env = RuntimeEnv(**_load("runtime_env.yaml"))
    assert env["working_dir"] == "."
    assert ".venv/" in env["excludes"] and "runs/" in env["excludes"]
    assert env["env_vars"]["TF_USE_LEGACY_KERAS"] == "1"


@pytest.mark.parametrize("name", ["kuberay/raycluster.yaml", "kuberay/rayjob.yaml"])
def test_kuberay_manifests(name):
    doc = _load(name)
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] in ("RayCluster", "RayJob")
    cluster = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == pins()["ray"] == ray.__version__   # pyproject.toml's Ray
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            assert container["image"] and container["resources"]["requests"]["cpu"]
            assert {"secretRef": {"name": "micronas-s3"}} in container["envFrom"]
    if doc["kind"] == "RayJob":
        assert doc["spec"]["entrypoint"].startswith("python -m deploy_ray.job ")
        yaml.safe_load(doc["spec"]["runtimeEnvYAML"])        # embedded YAML parses


def test_cluster_launcher_installs_pyprojects_no_deps_pins():
    import tomllib
    pinned = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["micronas"]["no-deps"]
    (line,) = [c for c in _load("cluster.yaml")["setup_commands"] if "--no-deps" in c]
    assert line.split("--no-deps", 1)[1].split("&&")[0].split() == pinned


@pytest.mark.parametrize("path", sorted(p for p in ROOT.rglob("*.yaml")))
def test_no_credentials_in_configs(path):
    text = path.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"(?i)(secret_access_key|aws_secret|password)\s*[:=]\s*\S+", text)
