"""Hardware data: MCU definitions, latency lookup tables (LUTs) as Parquet at any URL, importers for
on-device measurements, a fitted predictor for what was never measured, and pricing of .tflite models.

Imports numpy, pandas, pyarrow and fsspec only: no torch, no TensorFlow, no Ray.

Public modules beside these names: `lut_store.storage` (storage URLs), `lut_store.tflite` (reading
and editing .tflite files), `lut_store.tflm` (TFLite-Micro's arena and stderr).
"""

from ._cache import cache_dir
from ._cost import op_configs, price_model
from ._energy import EnergyModel
from ._flash import TFLITE_MODEL_NAME, model_fixed_bytes, model_flash_bytes, op_flash_bytes, runtime_flash_bytes
from ._lut import LUT_SCHEMA_VERSION, Lut, OpConfig, same_padding
from ._mcu import Mcu, list_mcus, load_mcu
from ._predictor import (Predictor, calibration_set, code_path, cross_validate, onboarding_error,
                         read_predictor, write_predictor)
from ._pricing import LatencyModel, OpCost
from ._records import ImportReport, import_records
from .errors import InputError

__all__ = [
    "cache_dir", "EnergyModel",
    "ImportReport", "InputError", "LUT_SCHEMA_VERSION", "LatencyModel", "Lut", "Mcu", "OpConfig",
    "OpCost", "Predictor", "calibration_set", "code_path", "cross_validate", "import_records", "list_mcus", "load_mcu",
    "TFLITE_MODEL_NAME", "model_fixed_bytes", "model_flash_bytes", "onboarding_error", "op_configs", "op_flash_bytes",
    "price_model", "runtime_flash_bytes", "read_predictor", "same_padding",
    "write_predictor",
]
