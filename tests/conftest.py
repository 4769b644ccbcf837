import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MEASUREMENTS = SHARED / "mcu-measurements"
sys.path.insert(0, str(ROOT / "tests"))

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
