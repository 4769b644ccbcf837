"""Deployment: the Keras (tf_keras) rebuild of an Architecture, quantisation-aware fine-tuning,
full-int8 TFLite export, verification in LiteRT-reference and TFLite-Micro, the offline memory
plan, the budget check on the real artifact and the firmware bundle.

    from search_core.deploy import DeployConfig, deploy_run, verify_model
    dep = deploy_run("runs/ucihar-25ms", latency="luts/")    # writes the bundle into the folder
    dep.report["status"], dep.report["parity"]["max_lsb"], dep.bundle
    # DeployConfig(target="qemu-m33"): also on an emulated Cortex-M33 (dep.report["target"]);
    # verify_on_target(model, "qemu-m4") runs any int8 .tflite there

TensorFlow, LiteRT and TFLite-Micro are imported inside the functions only, so the search never
pays for them.
"""

from ._bundle import BUNDLE_FILES, c_header, c_source, check_bundle, write_bundle
from ._bundle import MANIFEST as BUNDLE_MANIFEST   # model.json: the bundle's marker
from ._config import TARGET_CHOICES
from ._export import export_run
from ._graph import graph_mismatch
from ._keras import build_keras, build_op_keras, op_model_tflite, to_int8_tflite
from ._runtime import quantize_input
from ._stage import DeployConfig, Deployment, deploy, deploy_run, load_run, require_deploy_stack
from ._target import describe_target, require_target, target_check, verify_on_target
from ._verify import verify_model

__all__ = ["BUNDLE_FILES", "BUNDLE_MANIFEST", "TARGET_CHOICES", "DeployConfig", "Deployment",
           "build_keras", "build_op_keras", "c_header", "c_source", "check_bundle", "deploy",
           "deploy_run", "describe_target", "export_run", "graph_mismatch", "load_run",
           "op_model_tflite", "quantize_input", "require_deploy_stack", "require_target",
           "target_check", "to_int8_tflite", "verify_model", "verify_on_target", "write_bundle"]
