"""`--dtype auto`: bf16 only where the hardware computes it natively, and the run says why."""
import pytest
import torch

from ptrm import hardware
from ptrm.checkpoint import load_checkpoint
from ptrm.runner import run_search
from ptrm.search import SearchConfig

AVX2_ONLY = hardware.CPU("AMD EPYC 7B13", frozenset({"avx2"}), "AVX2")
SAPPHIRE_RAPIDS = hardware.CPU("Intel Xeon", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}), "AVX512")


@pytest.fixture
def on(monkeypatch):
    def pretend(cpu):
        monkeypatch.setattr(hardware, "cpu", lambda: cpu)
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    return pretend


def test_auto_is_fp32_on_a_cpu_without_native_bf16(on):
    on(AVX2_ONLY)
    dtype, why = hardware.auto_dtype("cpu")
    assert dtype == torch.float32 and "no native bf16" in why and "AMD EPYC 7B13" in why


def test_auto_is_bf16_on_a_cpu_with_avx512_bf16_or_amx(on):
    on(SAPPHIRE_RAPIDS)
    assert hardware.auto_dtype("cpu")[0] == torch.bfloat16


def test_lowered_kernels_turn_native_bf16_off(on, monkeypatch):
    on(hardware.CPU("Intel Xeon", SAPPHIRE_RAPIDS.flags, "AVX2"))  # ATEN_CPU_CAPABILITY=avx2
    assert hardware.auto_dtype("cpu")[0] == torch.float32
    on(SAPPHIRE_RAPIDS)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert hardware.auto_dtype("cpu")[0] == torch.float32


def test_an_explicit_bf16_still_runs_but_warns_where_it_is_emulated(on):
    on(AVX2_ONLY)
    dtype, why = hardware.resolve_dtype("bfloat16", "cpu")
    assert dtype == torch.bfloat16 and "slower" in why
    on(SAPPHIRE_RAPIDS)
    assert hardware.resolve_dtype("bfloat16", "cpu")[1] == "asked for bfloat16"


def test_the_manifest_records_the_dtype_chosen_and_why(on, tiny_ckpt, puzzles):
    on(AVX2_ONLY)
    run = run_search(load_checkpoint(tiny_ckpt), puzzles.head(2), SearchConfig(K=2, D=1), progress=False,
                     deterministic=False)
    assert run.manifest["search"]["dtype"] == "float32"
    assert "no native bf16" in run.manifest["search"]["dtype_reason"]
    assert "CPU:" in run.manifest["hardware"]


def test_the_real_machine_is_described():
    text = hardware.describe()
    assert text.startswith("CPU: ") and "auto dtype:" in text
