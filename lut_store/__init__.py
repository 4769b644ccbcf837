"""Hardware data: MCU definitions, latency lookup tables (LUTs) as Parquet at any URL, importers for
on-device measurements, a fitted predictor for what was never measured, and pricing of .tflite models.

Imports numpy, pandas, pyarrow and fsspec only: no torch, no TensorFlow, no Ray.
"""

from ._cost import op_configs, price_model
from ._lut import LUT_SCHEMA_VERSION, Lut, OpConfig
from ._mcu import Mcu, list_mcus, load_mcu
from ._predictor import Predictor, cross_validate, onboarding_error
from ._pricing import LatencyModel, OpCost, read_predictor, write_predictor
from ._records import ImportReport, import_records
from .errors import InputError

__all__ = [
    "ImportReport", "InputError", "LUT_SCHEMA_VERSION", "LatencyModel", "Lut", "Mcu", "OpConfig",
    "OpCost", "Predictor", "cross_validate", "import_records", "list_mcus", "load_mcu",
    "onboarding_error", "op_configs", "price_model", "read_predictor", "write_predictor",
]
