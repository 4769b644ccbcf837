"""Deployment: the Keras (tf_keras) rebuild of an Architecture, quantisation-aware fine-tuning,
full-int8 TFLite export, verification in LiteRT-reference and TFLite-Micro, the offline memory
plan, the budget check on the real artifact and the firmware bundle.

    from search_core.deploy import DeployConfig, deploy_run, verify_model
    dep = deploy_run("runs/ucihar-25ms", latency="luts/")    # writes the bundle into the folder
    dep.report["status"], dep.report["parity"]["max_lsb"], dep.bundle

TensorFlow, LiteRT and TFLite-Micro are imported inside the functions only, so the search never
pays for them.
"""

from ._bundle import BUNDLE_FILES, c_header, c_source, check_bundle, write_bundle
from ._bundle import MANIFEST as BUNDLE_MANIFEST   # model.json: the bundle's marker
from ._export import export_run
from ._graph import graph_mismatch
from ._keras import build_keras, build_op_keras, op_model_tflite, to_int8_tflite
from ._runtime import quantize_input
from ._stage import DeployConfig, Deployment, deploy, deploy_run, load_run, require_deploy_stack
from ._verify import verify_model

__all__ = ["BUNDLE_FILES", "BUNDLE_MANIFEST", "DeployConfig", "Deployment", "build_keras",
           "build_op_keras", "c_header", "c_source", "check_bundle", "deploy", "deploy_run",
           "export_run",
           "graph_mismatch", "load_run", "op_model_tflite", "quantize_input", "require_deploy_stack",
           "to_int8_tflite", "verify_model", "write_bundle"]
