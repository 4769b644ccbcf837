"""Fixtures for the lut_store tests: int8 .tflite models built once per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tflite_models(tmp_path_factory) -> dict[str, bytes]:
    """name -> int8 .tflite bytes of every model in `_tf_models.MODEL_SPECS`.

    Conversion takes about a second per model (plus ~5 s to import TensorFlow), so it happens once
    per session; the files are kept in the session's tmp dir for inspection after a failure."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    import _tf_models

    out_dir = tmp_path_factory.mktemp("tflite_models")
    models = {}
    for spec in _tf_models.MODEL_SPECS:
        path = out_dir / f"{spec.name}.tflite"
        if not path.exists():
            path.write_bytes(_tf_models.build_tflite(spec))
        models[spec.name] = path.read_bytes()
    return models


@pytest.fixture(scope="module")
def tflm():
    """The TFLM Python runtime; tests that compare with the real arena need it."""
    return pytest.importorskip("tflite_micro").runtime
