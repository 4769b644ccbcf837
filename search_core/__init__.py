"""One search, start to finish: data, search space, hardware cost model, DNAS, derivation,
retraining and int8 deployment. Imports neither Ray nor TensorFlow at import time."""

__all__: list[str] = []
