"""Deployment: the Keras (tf_keras) rebuild of an Architecture and its full-int8 TFLite export.

TensorFlow is imported inside the functions only, so the search never pays for it.
"""

from ._export import export_run
from ._keras import build_keras, to_int8_tflite

__all__ = ["build_keras", "export_run", "to_int8_tflite"]
