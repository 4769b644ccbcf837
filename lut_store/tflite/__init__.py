"""TFLite models without TensorFlow: a bounds-checked reader of .tflite flatbuffers and the one
edit the project needs (adding a metadata buffer, e.g. TFLM's offline memory plan).

A model file is user input: anything malformed is one `InputError` naming the file.
"""

from ._editor import add_metadata_buffer
from ._reader import Operator, Subgraph, Tensor, TfliteModel, int8_io, read_model
from ._schema import BUILTIN_OPERATORS

__all__ = ["BUILTIN_OPERATORS", "Operator", "Subgraph", "Tensor", "TfliteModel",
           "add_metadata_buffer", "int8_io", "read_model"]
