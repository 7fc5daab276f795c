"""Where models go, and the GPU path against the CPU path. The CUDA tests skip on a machine without a GPU (CI);
run them where one is lent: pytest tests/test_cuda.py."""
import pytest
import torch

from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.hardware import default_device
from ptrm.runner import run_search
from ptrm.search import SearchConfig

SHIPPED = "results/checkpoints/sudoku.pt"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_models_go_where_they_are_told(monkeypatch):
    assert default_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("PTRM_DEVICE", "cpu")
    assert load_checkpoint(SHIPPED).model.device.type == "cpu"
    monkeypatch.delenv("PTRM_DEVICE")  # unset: CUDA when present, else the CPU
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PtrmError, match="'tpu' is not one of cpu, cuda, cuda:N"):
        default_device("tpu")
    with pytest.raises(PtrmError, match=f"this machine has {torch.cuda.device_count()} CUDA devices"):
        load_checkpoint(SHIPPED, device=f"cuda:{torch.cuda.device_count()}")


@cuda
def test_a_search_on_the_gpu_finds_what_the_cpu_finds():
    """fp32 on both: the noise agrees to ~1e-6 across devices, so the trained model's answers agree (not bit for
    bit: float kernels differ), and the search runs in GPU-sized batches."""
    cfg = SearchConfig(K=8, sigma=0.3, dtype="float32", per_step=True)
    runs = {}
    for device in ("cpu", "cuda"):
        ck = load_checkpoint(SHIPPED, device=device)
        runs[device] = run_search(ck, ck.test_set().head(16), cfg, progress=False)
    gpu, cpu = runs["cuda"], runs["cpu"]
    assert gpu.manifest["backend"]["device"].startswith("cuda") and gpu.manifest["search"]["chunk_size"] == 8192
    assert (gpu.records.answer_hash == cpu.records.answer_hash).mean() >= 0.95
    assert abs(gpu.records.correct.mean() - cpu.records.correct.mean()) <= 0.05


@cuda
def test_bf16_is_the_gpu_default_and_solves_like_fp32():
    ck = load_checkpoint(SHIPPED, device="cuda")
    pset = ck.test_set().head(32)
    runs = {d: run_search(ck, pset, SearchConfig(K=4, sigma=0.3, dtype=d), progress=False) for d in ("auto", "float32")}
    assert runs["auto"].manifest["search"]["dtype"] == "bfloat16"
    assert abs(runs["auto"].records.correct.mean() - runs["float32"].records.correct.mean()) <= 0.1

