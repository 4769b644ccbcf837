"""Hand copies of the schema.fbs enums the reader decodes (tensorflow/lite/schema/schema.fbs).

Hand-copied because lut_store must not depend on TensorFlow or on generated flatbuffer code;
tests/lut_store/test_tflite_schema.py checks every value against the generated schema of each
installed TensorFlow / LiteRT / TFLite-Micro (and the reader's field ids and defaults on a model
the generated builder wrote), so a copy that drifts fails there.
"""

from __future__ import annotations

FILE_IDENTIFIER = b"TFL3"

# BuiltinOperator enum of schema.fbs (value = list index).
BUILTIN_OPERATORS: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
    "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2",
    "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
    "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
    "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL",
    "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT",
    "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT",
    "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
    "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF",
    "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
    "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM",
    "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE",
    "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE",
    "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
    "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC",
    "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE",
    "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR",
    "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE",
    "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT", "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE", "STABLEHLO_SHIFT_LEFT",
    "STABLEHLO_CBRT", "STABLEHLO_CASE",
)

# TensorType enum -> (name, itemsize). Item sizes follow TFLM's TfLiteTypeSizeOf; the sub-byte and
# opaque types (string, resource, variant, int2/int4/uint4) have no fixed per-element size (0).
TENSOR_TYPES: tuple[tuple[str, int], ...] = (
    ("float32", 4), ("float16", 2), ("int32", 4), ("uint8", 1), ("int64", 8), ("string", 0),
    ("bool", 1), ("int16", 2), ("complex64", 8), ("int8", 1), ("float64", 8), ("complex128", 16),
    ("uint64", 8), ("resource", 0), ("variant", 0), ("uint32", 4), ("uint16", 2), ("int4", 0),
    ("bfloat16", 2), ("int2", 0), ("uint4", 0), ("float8_e4m3fn", 1), ("float8_e5m2", 1),
)

# ActivationFunctionType and Padding, lower-cased as the LUT spells them.
ACTIVATIONS = ("none", "relu", "relu_n1_to_1", "relu6", "tanh", "sign_bit")
PADDINGS = ("same", "valid")

# BuiltinOptions union type ids of the option tables the reader decodes.
OPT_CONV2D, OPT_DEPTHWISE, OPT_POOL2D, OPT_FULLY_CONNECTED, OPT_SOFTMAX = 1, 2, 5, 8, 9
OPT_CONCATENATION, OPT_ADD, OPT_RESHAPE, OPT_MUL = 10, 11, 17, 21
OPT_REDUCER, OPT_SUB = 27, 28
OPT_SQUEEZE, OPT_STRIDED_SLICE, OPT_TRANSPOSE_CONV, OPT_LEAKY_RELU = 30, 32, 49, 75
OPT_IF, OPT_WHILE, OPT_CALL_ONCE = 92, 93, 103

# The same ids by their schema names (what the schema test compares).
BUILTIN_OPTIONS = {
    "Conv2DOptions": OPT_CONV2D, "DepthwiseConv2DOptions": OPT_DEPTHWISE,
    "Pool2DOptions": OPT_POOL2D, "FullyConnectedOptions": OPT_FULLY_CONNECTED,
    "SoftmaxOptions": OPT_SOFTMAX, "ConcatenationOptions": OPT_CONCATENATION,
    "AddOptions": OPT_ADD, "ReshapeOptions": OPT_RESHAPE, "MulOptions": OPT_MUL,
    "ReducerOptions": OPT_REDUCER, "SubOptions": OPT_SUB, "SqueezeOptions": OPT_SQUEEZE,
    "StridedSliceOptions": OPT_STRIDED_SLICE, "TransposeConvOptions": OPT_TRANSPOSE_CONV,
    "LeakyReluOptions": OPT_LEAKY_RELU, "IfOptions": OPT_IF, "WhileOptions": OPT_WHILE,
    "CallOnceOptions": OPT_CALL_ONCE,
}
