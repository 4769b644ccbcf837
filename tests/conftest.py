import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MEASUREMENTS = SHARED / "mcu-measurements"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "orchestrator"))

# Keep heavy frameworks quiet and local in every test process.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


@pytest.fixture(scope="session")
def measurements() -> Path:
    if not MEASUREMENTS.is_dir():
        pytest.fail(f"{MEASUREMENTS} is missing: the tests need ../shared beside the checkout")
    return MEASUREMENTS


@pytest.fixture(scope="session")
def s3_endpoint():
    from _s3 import s3_server
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A fresh bucket on the loopback S3 server, with the environment s3fs reads."""
    import uuid

    import s3fs
    from _s3 import make_bucket, s3_env
    for key, value in s3_env(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    name = f"t-{uuid.uuid4().hex[:12]}"
    make_bucket(s3_endpoint, name)
    yield name
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def l552_lut(measurements):
    """The real nucleo-l552ze-q measurements as a Lut (imported once per session)."""
    from lut_store import import_records
    lut, _ = import_records(measurements / "nucleo-l552ze-q", "nucleo-l552ze-q")
    return lut


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory):
    """Random architectures of the UCI-HAR space (128 x 9, 6 classes), exported as int8 .tflite:
    branchy graphs with ADDs, the kind on which TFLM's planner fragments."""
    import random

    import numpy as np
    from search_core.deploy import build_keras, to_int8_tflite
    from search_core.space import SearchSpace

    space = SearchSpace(128, 9, 6)
    rng = random.Random(7)
    archs = [space.largest(), space.smallest()] + [space.random(rng) for _ in range(4)]
    folder = tmp_path_factory.mktemp("models")
    calib = np.random.default_rng(0).normal(size=(8, 128, 9)).astype("float32")
    out = []
    for i, arch in enumerate(archs):
        path = folder / f"arch{i}.tflite"
        path.write_bytes(to_int8_tflite(build_keras(arch), calib))
        out.append((arch, path))
    return out


@pytest.fixture(scope="session")
def l552_latency(l552_lut):
    """Latency on nucleo-l552ze-q: measured rows, and the fitted predictor for everything else."""
    from lut_store import LatencyModel, Predictor, load_mcu
    l552 = load_mcu("nucleo-l552ze-q")
    return LatencyModel(l552, l552_lut, Predictor.fit(l552_lut, [l552]))


@pytest.fixture(scope="session")
def lut_folder(tmp_path_factory, l552_lut):
    """A LUT folder on disk with the L552 measurements and a fitted predictor."""
    from lut_store import Predictor, load_mcu, write_predictor
    folder = str(tmp_path_factory.mktemp("lut") / "lut")
    l552_lut.write(folder)
    write_predictor(folder, Predictor.fit(l552_lut, [load_mcu("nucleo-l552ze-q")]))
    return folder
