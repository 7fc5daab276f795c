"""What the machine computes natively: the CPU's model and ISA, the GPU, and the activation dtype to use.

bf16 pays only where the hardware has it: CUDA GPUs with bf16 support, and CPUs with AVX-512 BF16 or AMX.
On an AVX2-only CPU torch emulates bf16 matmuls and runs them 10x+ slower than fp32, so `auto` means fp32
there. `python -m ptrm.hardware` prints the summary (CI prints it before the tests).
"""
import functools
import os
import platform
from dataclasses import dataclass

import torch

from ptrm.errors import PtrmError

ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CPU:
    model: str
    flags: frozenset   # the ISA_FLAGS this CPU reports
    dispatch: str      # the kernel level torch uses (AVX2, AVX512, ...; ATEN_CPU_CAPABILITY can lower it)

    @property
    def native_bf16(self) -> bool:
        has_bf16 = bool(self.flags & {"avx512_bf16", "amx_bf16"})
        return has_bf16 and self.dispatch.startswith("AVX512") and not _onednn_capped()

    def describe(self) -> str:
        flags = ", ".join(f for f in ISA_FLAGS if f in self.flags) or "none of " + "/".join(ISA_FLAGS)
        return f"{self.model} ({flags}; torch dispatch {self.dispatch})"


def _onednn_capped() -> bool:
    """ONEDNN_MAX_CPU_ISA=AVX2 (or lower) turns the bf16 matmul kernels off."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return cap not in ("ALL", "DEFAULT") and not cap.startswith(("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10"))


@functools.cache  # every ExecutionPlan and `ptrm` command asks: read /proc/cpuinfo once per process
def cpu() -> CPU:
    model, flags, info = platform.processor() or platform.machine(), set(), {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
                if key.strip() == "model name":  # virtual machines often hide the name: add family/model
                    model = f"{value.strip()} [family {info.get('cpu family')}, model {info.get('model')}]"
                elif key.strip() == "flags":
                    flags = set(value.split()) & set(ISA_FLAGS)
                    break
    except OSError:  # not Linux: the model name from platform, no flags
        pass
    return CPU(model, frozenset(flags), torch.backends.cpu.get_cpu_capability())


def default_device(name: str | None = None) -> torch.device:
    """Where a model goes: `name` (cpu, cuda, cuda:N) when given, else $PTRM_DEVICE when set, else CUDA when
    present (the first GPU run found models left on the CPU, computing there while the GPU idled)."""
    name = name or os.environ.get("PTRM_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:  # not a device name at all: refused below with the names that are
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise PtrmError(f"device {name!r} is not one of cpu, cuda, cuda:N")
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise PtrmError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    return device


def auto_dtype(device) -> tuple[torch.dtype, str]:
    """The activation dtype the device computes natively, and why."""
    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, f"{torch.cuda.get_device_name(device)} computes bf16 natively"
        return torch.float32, f"{torch.cuda.get_device_name(device)} has no native bf16"
    c = cpu()
    if c.native_bf16:
        return torch.bfloat16, f"CPU computes bf16 natively: {c.describe()}"
    return torch.float32, f"CPU has no native bf16 (torch would emulate it 10x+ slower): {c.describe()}"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def resolve_dtype(name: str, device) -> tuple[torch.dtype, str]:
    """`auto`, `float32` or `bfloat16` -> (dtype, reason); an emulated bf16 is allowed but said to be slow."""
    if name == "auto":
        return auto_dtype(device)
    dtype = getattr(torch, name)
    if dtype == torch.bfloat16 and auto_dtype(device)[0] != torch.bfloat16:
        return dtype, "asked for bfloat16, which this device emulates: expect it to be many times slower than fp32"
    return dtype, f"asked for {name}"


def describe() -> str:
    lines = [f"CPU: {cpu().describe()}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads"]
    if torch.cuda.is_available():
        lines += [f"GPU {i}: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    device = default_device()
    lines.append(f"models go to: {device} (--device or $PTRM_DEVICE to change); auto dtype: {auto_dtype(device)[1]}")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        print(describe())
    except PtrmError as e:  # a $PTRM_DEVICE this machine lacks
        raise SystemExit(f"error: {e}") from None
