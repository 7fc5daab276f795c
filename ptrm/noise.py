"""Counter-based Gaussian noise for PTRM rollouts, made on the rollouts' own device.

Why
---
The search used to keep one CPU ``torch.Generator`` per rollout and copy its draws to the device
every step. Here a noise value is instead a *pure function of integers*::

    gaussian(seed, puzzle, k, step, stream)[b, element]
        = f(seed, puzzle[b], k[b], step, stream, element)

so there is no generator state to carry, step t can be drawn without drawing steps 0..t-1, a rollout
gets the same noise whatever batch it runs in (alone, chunked, shuffled, on another worker), and a
whole step's noise is one batched computation on the rollouts' device.

Scheme (``GENERATOR = "ptrm-counter-v1"``; change the name if any of this changes)
-------------------------------------------------------------------------------
All integer math is on 32-bit values held in int64 tensors (or Python ints), masked to 32 bits.
``mix`` is Chris Wellons' ``lowbias32`` (hash-prospector), a bijection of 32-bit words::

    x ^= x >> 16; x *= 0x7feb352d; x ^= x >>15; x *= 0x846ca68b; x ^= x >> 16    (mod 2**32)

Overflow: torch does not promise that int64 overflow wraps, so no product may leave int64. A word
x < 2**32 is multiplied by c itself when c < 2**31, else by c - 2**32 (a negative number with
|c - 2**32| < 2**31, equal to c mod 2**32); either way |x * c| < 2**63, and ``& 0xFFFFFFFF`` of the
(two's-complement) product is x * c mod 2**32. Right shifts only ever see masked, non-negative words.

1. Row key, 64 bits as two 32-bit lanes (a, b) with different start values (digits of pi). Each lane
   absorbs, in this order, the 32-bit words seed_lo, seed_hi, step_lo, step_hi, stream, puzzle_lo,
   puzzle_hi, k_lo, k_hi by ``h = mix(h ^ word)``. (seed, step, stream) are Python ints, done once;
   puzzle and k are per-row int64 tensors. Two distinct tuples share a row key with probability
   about 2**-64; two tuples differing only in k (< 2**32) never share lane a or lane b.
2. Word for counter c of a row: ``w(c) = mix(mix(c ^ a) ^ b)``, c = 0, 1, 2, ...
3. Uniforms in (0, 1) strictly: ``u = (w >> 9) * 2**-23 + 2**-24`` in float32, i.e. the midpoints of
   2**23 equal bins, from 2**-24 to 1 - 2**-24; every step is exact in float32, and log(u) is never
   log(0).
4. Box-Muller in float32, pairing counters (2j, 2j+1) into element pair (2j, 2j+1):
   ``r = sqrt(-2 log u[2j])``, ``theta = 2pi * u[2j+1]``, ``z[2j] = r cos(theta)``,
   ``z[2j+1] = r sin(theta)``. So element e (the flat, row-major index into ``shape``) depends only
   on (row key, e): a smaller ``shape`` with the same flat size gives the same values, and any
   shape's flat values are a prefix of a longer one's. |z| <= sqrt(48 ln 2) ~ 5.77.

What holds where
----------------
* CPU: bit-identical for any thread count, batch size, batch order or (internal) chunk size: every
  op is elementwise, one op per kernel (no fused multiply-add), and each row is computed only from
  its own key.
* Across devices (CPU vs CUDA, or different CPUs/libms): the integer words are exact everywhere;
  the float32 log/sqrt/cos/sin may differ in the last ulp or so, so normals agree to ~1e-6 relative,
  not bitwise. Reproducing a run bit-for-bit needs the same device type (and library versions).
"""
from __future__ import annotations

import math

import torch

GENERATOR = "ptrm-counter-v1"

_M32 = 0xFFFFFFFF
_C1, _C2 = 0x7FEB352D, 0x846CA68B          # lowbias32 multipliers
_IV = (0x243F6A88, 0x85A308D3)             # lane start values: the first fractional words of pi
_BLOCK_WORDS = 1 << 15                     # CPU: words per block: cache-sized, ops under torch's grain
_TWO_PI = float(torch.tensor(2 * math.pi, dtype=torch.float32))  # 2pi rounded to float32 (exact scalar)


def _mul32(x, c: int):
    """x * c mod 2**32 for 32-bit x, with every intermediate inside int64 (see module docstring)."""
    return (x * (c - (1 << 32) if c >= 1 << 31 else c)) & _M32


def _mix(x):
    """lowbias32 on a Python int or an int64 tensor of 32-bit words (new object)."""
    x = x ^ (x >> 16)
    x = _mul32(x, _C1)
    x = x ^ (x >> 15)
    x = _mul32(x, _C2)
    return x ^ (x >> 16)


def _mix_(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 in place on an int64 tensor of 32-bit words (same math as ``_mix``, less memory)."""
    x ^= x >> 16
    x.mul_(_C1).bitwise_and_(_M32)
    x ^= x >> 15
    x.mul_(_C2 - (1 << 32)).bitwise_and_(_M32)
    x ^= x >> 16
    return x


def _halves(v):
    """(low, high) 32-bit words of a 64-bit integer (Python int or int64 tensor, two's complement)."""
    return v & _M32, (v >> 32) & _M32


def row_keys(seed: int, puzzle, k, step: int, stream: int, device=None):
    """The two 32-bit key lanes (a, b) per row, as int64 tensors of shape [B, 1]."""
    puzzle = torch.as_tensor(puzzle, dtype=torch.int64, device=device).reshape(-1)
    k = torch.as_tensor(k, dtype=torch.int64, device=puzzle.device).reshape(-1)
    if puzzle.shape != k.shape:
        raise ValueError(f"puzzle and k must have the same length, got {puzzle.shape} and {k.shape}")
    if not 0 <= stream <= _M32 or step < 0:
        raise ValueError(f"need step >= 0 and 0 <= stream < 2**32, got step={step}, stream={stream}")
    fixed = (*_halves(seed & 0xFFFFFFFFFFFFFFFF), *_halves(step), stream)
    per_row = (*_halves(puzzle), *_halves(k))
    lanes = []
    for h in _IV:
        for word in fixed:          # Python ints: exact, computed once per call
            h = _mix(h ^ word)
        for word in per_row:        # int64 tensors of length B
            h = _mix(word ^ h)
        lanes.append(h.reshape(-1, 1))
    return lanes[0], lanes[1]


def _words(a: torch.Tensor, b: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """w(c) = mix(mix(c ^ a) ^ b): [rows, n] int64 words in [0, 2**32)."""
    return _mix_(_mix_(counters ^ a).bitwise_xor_(b))


def _uniform(w: torch.Tensor) -> torch.Tensor:
    """Top 23 bits of each word -> the midpoint of its bin: (2m + 1) * 2**-24, exact in float32, in (0, 1)."""
    return (w >> 9).to(torch.float32).mul_(2.0 ** -23).add_(2.0 ** -24)


def words(seed: int, puzzle, k, step: int, stream: int, n: int, device=None) -> torch.Tensor:
    """The raw 32-bit words for counters 0..n-1 of each row, [B, n] int64 (exposed for tests)."""
    a, b = row_keys(seed, puzzle, k, step, stream, device)
    return _words(a, b, torch.arange(n, dtype=torch.int64, device=a.device))


def gaussian(seed: int, puzzle: torch.Tensor, k: torch.Tensor, step: int, stream: int, shape: tuple,
             device=None) -> torch.Tensor:
    """Standard normals, float32 [B, *shape]; row b is a pure function of
    (seed, puzzle[b], k[b], step, stream, flat element index).

    seed: any 64-bit integer; puzzle, k: B integers (tensor or array-like, int64 range); step >= 0;
    stream: 0 for noise on z, 1 for noise on y. device: where to compute (default: puzzle's device).
    """
    if device is None and isinstance(puzzle, torch.Tensor):
        device = puzzle.device
    a, b = row_keys(seed, puzzle, k, step, stream, device)
    shape = tuple(shape)
    n = 1
    for s in shape:
        n *= int(s)
    pairs = (n + 1) // 2
    if 2 * pairs > 1 << 32:
        raise ValueError(f"at most 2**32 elements per row, got {n}")
    B, dev = a.shape[0], a.device
    out = torch.empty(B, pairs, 2, dtype=torch.float32, device=dev)
    even = torch.arange(0, 2 * pairs, 2, dtype=torch.int64, device=dev)   # counter 2j: radius of pair j
    odd = even + 1                                                         # counter 2j+1: its angle
    # On CPU, work in blocks of (rows x pairs) small enough to stay in cache (a loop over cache
    # blocks, not over rows: 5 rows a block at 97 x 128); values do not depend on the block size.
    # Every float op reads contiguous tensors (strided unary ops are far slower with 2 threads).
    block = _BLOCK_WORDS // 2 if dev.type == "cpu" else max(1, B * pairs)
    cols = max(1, min(pairs, block))
    rows = max(1, block // pairs)
    for i in range(0, B, rows):
        ai, bi = a[i:i + rows], b[i:i + rows]
        for j in range(0, pairs, cols):
            r = _uniform(_words(ai, bi, even[j:j + cols])).log_().mul_(-2.0).sqrt_()
            theta = _uniform(_words(ai, bi, odd[j:j + cols])).mul_(_TWO_PI)
            o = out[i:i + rows, j:j + cols]
            torch.mul(r, theta.cos(), out=o[..., 0])
            torch.mul(r, theta.sin_(), out=o[..., 1])
    return out.view(B, 2 * pairs)[:, :n].reshape(B, *shape)
