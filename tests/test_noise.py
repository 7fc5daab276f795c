"""ptrm.noise: counter-based Gaussian noise. Each test doubles as an example of use."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from ptrm import noise
from ptrm.noise import GENERATOR, gaussian

SHAPE = (97, 16)   # tokens x hidden, kept small so the file runs in seconds


def draw(seed=0, puzzle=(0, 1, 2), k=(0, 0, 0), step=0, stream=0, shape=SHAPE):
    return gaussian(seed, torch.tensor(puzzle), torch.tensor(k), step, stream, shape)


# ---------------------------------------------------------------- a pure numpy reference (uint64 wraps)
M32 = np.uint64(0xFFFFFFFF)


def np_mix(x):
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & M32
    return x ^ (x >> np.uint64(16))


def np_words(seed, puzzle, k, step, stream, n):
    def halves(v):
        v = np.asarray(v, dtype=np.int64).astype(np.uint64)   # two's complement bits
        return [v & M32, v >> np.uint64(32)]
    seed_bits = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    absorbed = [seed_bits & M32, seed_bits >> np.uint64(32), *halves(step), np.uint64(stream),
                *halves(puzzle), *halves(k)]
    lanes = []
    for iv in (0x243F6A88, 0x85A308D3):
        h = np.full(len(puzzle), iv, dtype=np.uint64)
        for word in absorbed:
            h = np_mix(h ^ word)
        lanes.append(h[:, None])
    c = np.arange(n, dtype=np.uint64)[None, :]
    return np_mix(np_mix(c ^ lanes[0]) ^ lanes[1])


def np_box_muller(w):
    u = ((w >> np.uint64(9)).astype(np.float32) * np.float32(2.0 ** -23) + np.float32(2.0 ** -24))
    r = np.sqrt(np.float32(-2) * np.log(u[:, 0::2]))
    theta = u[:, 1::2] * np.float32(2 * np.pi)
    z = np.empty(u.shape, dtype=np.float32)
    z[:, 0::2], z[:, 1::2] = r * np.cos(theta), r * np.sin(theta)
    return z


EXTREME = dict(seed=2**63 - 1, puzzle=[2**40, -1, 0, 2**63 - 1], k=[0, 2**32, 2**33 + 5, -2**63],
               step=10_000, stream=1)


@pytest.mark.parametrize("args", [dict(seed=0, puzzle=[0, 1, 2], k=[0, 1, 2], step=0, stream=0),
                                  dict(seed=-12345, puzzle=[5, 5, 9], k=[3, 4, 3], step=7, stream=1),
                                  EXTREME])
def test_integer_words_match_numpy_reference(args):
    ref = np_words(n=1000, **args)
    got = noise.words(n=1000, **args).numpy().astype(np.uint64)
    assert (got == ref).all()
    assert got.max() <= 0xFFFFFFFF and got.min() >= 0


def test_floats_match_numpy_box_muller():
    args = dict(seed=3, puzzle=[1, 2], k=[0, 1], step=2, stream=0)
    ref = np_box_muller(np_words(n=2 * 777, **args))
    got = gaussian(shape=(2 * 777,), **args).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)   # libms differ by an ulp at most


def test_mul32_never_leaves_int64():
    x = torch.tensor([0, 1, 2**31, 2**32 - 1])
    for c in (noise._C1, noise._C2):
        signed = c - 2**32 if c >= 2**31 else c
        assert abs((2**32 - 1) * signed) < 2**63
        assert noise._mul32(x, c).tolist() == [(int(v) * c) % 2**32 for v in x]


# ---------------------------------------------------------------- purity
def test_same_inputs_same_bits():
    assert torch.equal(draw(), draw())
    assert GENERATOR == "ptrm-counter-v1"   # recorded in run manifests


def test_row_same_alone_or_inside_a_shuffled_batch():
    puzzle, k = torch.arange(40) // 8, torch.arange(40) % 8
    batch = gaussian(11, puzzle, k, 3, 0, SHAPE)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    assert torch.equal(gaussian(11, puzzle[perm], k[perm], 3, 0, SHAPE), batch[perm])
    for b in (0, 17, 39):
        assert torch.equal(gaussian(11, puzzle[b:b + 1], k[b:b + 1], 3, 0, SHAPE)[0], batch[b])


def test_bit_identical_across_threads_and_block_sizes(monkeypatch):
    puzzle, k = torch.arange(32), torch.arange(32) % 5
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = gaussian(1, puzzle, k, 0, 0, (97, 32))
        torch.set_num_threads(2)
        two = gaussian(1, puzzle, k, 0, 0, (97, 32))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    for block in (1000, 3 * 97 * 32 + 2, 1 << 30):
        monkeypatch.setattr(noise, "_BLOCK_WORDS", block)
        assert torch.equal(gaussian(1, puzzle, k, 0, 0, (97, 32)), one)


def test_value_depends_on_flat_element_index_only():
    flat = draw(shape=(97 * 16,))
    assert torch.equal(draw(shape=(97, 16)).reshape(3, -1), flat)
    assert torch.equal(draw(shape=(97 * 16 + 11,))[:, :97 * 16], flat)   # an odd size too


@pytest.mark.parametrize("change", [dict(step=1), dict(k=(1, 0, 0)), dict(puzzle=(3, 1, 2)),
                                    dict(stream=1), dict(seed=1)])
def test_each_input_changes_the_draw(change):
    base, other = draw(), draw(**change)
    changed_rows = [0] if set(change) & {"k", "puzzle"} else [0, 1, 2]
    for b in range(3):
        differs = (base[b] != other[b]).float().mean().item()
        assert differs == 1.0 if b in changed_rows else differs == 0.0


def test_extreme_integers_are_finite_and_bounded():
    z = gaussian(shape=(97, 128), **EXTREME)
    assert z.dtype == torch.float32 and z.shape == (4, 97, 128)
    assert torch.isfinite(z).all()
    assert z.abs().max() <= math.sqrt(-2 * math.log(2.0 ** -24)) + 1e-5   # u is never 0


# ---------------------------------------------------------------- distribution (fixed seeds: no flakes)
def test_standard_normal_moments_and_ks():
    z = gaussian(2024, torch.arange(8), torch.zeros(8, dtype=torch.long), 5, 0, (12_500,)).double()
    z = z.flatten().numpy()                        # 1e5 draws
    assert abs(z.mean()) < 4 / math.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / z.size)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs((np.abs(z) > 3).mean() - 2 * stats.norm.sf(3)) < 5e-4


def _max_offdiag_corr(rows):
    c = np.corrcoef(rows.reshape(rows.shape[0], -1).double().numpy())
    off = c[~np.eye(len(c), dtype=bool)]
    return np.abs(off).max(), off.std()


def test_no_correlation_across_rollouts():
    n = 4096
    z = gaussian(7, torch.full((48,), 3), torch.arange(48), 0, 0, (n,))
    worst, spread = _max_offdiag_corr(z)
    assert worst < 6 / math.sqrt(n)
    assert abs(spread * math.sqrt(n) - 1) < 0.1         # off-diagonals look like pure sampling noise


def test_no_correlation_across_steps_or_streams():
    n = 4096
    puzzle, k = torch.tensor([3]), torch.tensor([5])
    rows = torch.cat([gaussian(7, puzzle, k, t, s, (n,)) for t in range(24) for s in (0, 1)])
    worst, _ = _max_offdiag_corr(rows)
    assert worst < 6 / math.sqrt(n)


def test_no_correlation_between_nearby_elements():
    z = gaussian(9, torch.arange(4), torch.arange(4), 2, 1, (25_000,)).double().numpy()
    n = z.shape[0] * (z.shape[1] - 2)
    for lag in (1, 2):   # lag 1 includes the Box-Muller cos/sin partners
        r = np.mean([np.corrcoef(row[:-2], row[lag:len(row) - 2 + lag])[0, 1] for row in z])
        assert abs(r) < 4 / math.sqrt(n)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    args = dict(seed=5, puzzle=torch.arange(64), k=torch.arange(64) % 7, step=3, stream=1)
    assert torch.equal(noise.words(n=4096, device="cuda", **args).cpu(), noise.words(n=4096, **args))
    cpu = gaussian(shape=(97, 128), **args)
    gpu = gaussian(shape=(97, 128), device="cuda", **args).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-5, atol=1e-5)
