"""Kernel cycles (and interpreter overhead) of op configurations that were never measured.

The model is data: per board, per op kind, per CMSIS-NN code path, a short list of named count
features and their least-squares coefficients (JSON, never a pickle). Interpreter overhead: the
median measured overhead per board and op. A board without measurements borrows the model of a
donor, and `Predictor.calibrate` adapts a donor to a few measurements of a new board.

One job per module: `_features` (what is counted), `_fit` (the fits), `_donors` (who lends to
whom), `_file` (predictor.json), `_model` (the Predictor), `_crossval` (how good it is),
`_calibration` (which few configurations a new board should measure).
"""

from ._calibration import calibration_set, code_path
from ._crossval import cross_validate, onboarding_error
from ._donors import board_definitions
from ._model import Predictor, read_predictor, write_predictor

__all__ = ["Predictor", "board_definitions", "calibration_set", "code_path", "cross_validate",
           "onboarding_error", "read_predictor", "write_predictor"]
