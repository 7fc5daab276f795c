"""How a run executes: device, activation dtype and chunk size, resolved once where a run starts.

A search config says what to compute; the plan says how, on this machine. `ptrm.runner` (and the in-process
deterministic evaluation, ptrm.evaluate) resolve it once from the config's `dtype` ("auto", "float32",
"bfloat16") and `chunk_size` (None: the device's default) and hand it, whole, to the backend and through it to
every work item (ptrm.search.run_work_item), which never resolves anything itself. Ray actors get the driver's
plan: they compute in its dtype and batch its chunk size on the device they were given.
"""
from dataclasses import dataclass

import torch

from ptrm import hardware

CPU_CHUNK, GPU_CHUNK = 64, 8192  # rollouts per forward batch when none is asked for (see ExecutionPlan.resolve)


@dataclass(frozen=True)
class ExecutionPlan:
    device: torch.device        # where the driver's model is: what dtype and chunk size were chosen for
    dtype: torch.dtype          # activation dtype of every step
    chunk_size: int             # rollouts per forward batch (speed and memory; records agree across sizes)
    dtype_reason: str = ""      # why this dtype: printed, and kept in the manifest

    @classmethod
    def resolve(cls, device, dtype: str = "auto", chunk_size: int | None = None) -> "ExecutionPlan":
        """`dtype` "auto" becomes bf16 where the device computes it natively, else fp32. Without a chunk size,
        64 on a CPU and 8192 on a GPU. On a CPU a step's activations should stay in cache: a batch of 64 rollouts
        (~6k token rows) runs the README's first command's search 1.3-1.4x faster than 512
        (benchmarks/bench_search.py --chunks, docs/speed.md). On a GPU a batch of 512 rows leaves most of the time
        to kernel launches."""
        device = torch.device(device)
        resolved, why = hardware.resolve_dtype(dtype, device)
        default = GPU_CHUNK if device.type == "cuda" else CPU_CHUNK
        return cls(device, resolved, chunk_size or default, why)

    @property
    def dtype_name(self) -> str:
        """"float32" or "bfloat16": the form configs, manifests and sweep settings record."""
        return hardware.dtype_name(self.dtype)
