"""Device selection: auto picks the CPU here, an unavailable CUDA device is one clear line (exit
2 on the CLI), and what trained where is recorded."""

import pytest
import torch

from lut_store import InputError
from search_core import SearchConfig
from search_core._device import check_device, resolve_device


def test_spelling_is_checked_without_torch_work():
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert check_device(good) == good
    for bad in ("gpu", "cuda:", "cuda:x", "", 0):
        with pytest.raises(InputError, match="device must be auto, cpu, cuda or cuda:N"):
            check_device(bad)
    with pytest.raises(InputError, match="device must be"):
        SearchConfig(device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_auto_is_the_cpu_and_cuda_is_refused_here():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(InputError, match=f"device {name}: .*use device auto or cpu"):
            resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cli_refuses_an_unavailable_gpu_before_any_work(lut_folder, tmp_path, capsys):
    from orchestrator.cli import main

    code = main(["search", "--dataset", "basicmotions", "--mcu", "nucleo-l552ze-q",
                 "--lat-ms", "20", "--mem-kb", "32", "--lut", lut_folder, "--device", "cuda",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "device cuda:" in err
    assert not (tmp_path / "run").exists()


def test_a_run_records_where_it_trained(l552_latency, tmp_path):
    from search_core import run_search
    from search_core.data import load_dataset

    data = load_dataset("basicmotions")
    out = run_search(data, l552_latency, lat_ms=20, mem_kb=32,
                     config=SearchConfig(epochs=1, warmup_epochs=0, retrain_epochs=1,
                                         device="cpu"))
    assert out.result["device"] == {"search": "cpu", "retrain": "cpu"}
    assert all(p.device.type == "cpu" for p in out.network.parameters())
