"""The Tiny Recursive Model (TRM), exactly as the official code computes it.

One network (`L_level`, `L_layers` post-norm blocks) refines two states, in the official names:
  zH  # the paper's answer state y
  zL  # the paper's latent reasoning state z
One supervision step runs T = H_cycles deep recursions of n = L_cycles latent updates plus one answer
update (only the last recursion carries gradients), then reads logits from zH and the Q head from the
first puzzle-prefix token of zH. See docs: trm-spec.md. Parameter and buffer names follow the official
state dict, so an official checkpoint loads after stripping its `_orig_mod.model.inner.` prefix.

Weights are stored in fp32 and cast to the activation dtype per op (`forward_dtype`), as the official
code does; norms and RoPE run in fp32.

Without gradients (search, evaluation) `TRM.step` runs the same arithmetic in place (`_step_inference`): the
weights cast once per step, no transposed copies (the token-mixing MLP multiplies from the left instead), norms
and SwiGLU written into the buffers they read. Every value is computed by the same ops in the same dtype as
the autograd path (tests/test_model.py checks the two bit for bit), only with fewer passes over memory: the
step's elementwise work, not its matmuls, bounded it (docs/speed.md).

Dimensions in shapes and names, here and in the search (the paper's letters where it has them):
  B batch rows   L tokens the network sees (puzzle_emb_len + seq_len)   S answer tokens (seq_len)
  H hidden size (`hidden`)   V vocab   K rollouts per puzzle   D supervision steps (N_sup by default)
"""
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TRMConfig:
    vocab_size: int = 11
    seq_len: int = 81
    num_puzzle_identifiers: int = 1
    hidden_size: int = 128
    num_heads: int = 4               # attention variant only; head_dim = hidden_size / num_heads
    expansion: float = 4.0
    L_layers: int = 2                # blocks in the one network
    H_cycles: int = 3                # T: deep recursions per supervision step
    L_cycles: int = 6                # n: latent updates per recursion
    halt_max_steps: int = 16         # N_sup: supervision steps
    mlp_t: bool = True               # token-mixing MLP over the sequence axis instead of attention
    pos_encodings: str = "none"      # "rope" | "learned" | "none"
    puzzle_emb_ndim: int = 128       # 0 disables the puzzle embedding
    puzzle_emb_len: int = 16         # prefix tokens
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def total_len(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TRMConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def swiglu_inter(width: int, expansion: float) -> int:
    """Official SwiGLU hidden width: round(e * w * 2/3), rounded up to a multiple of 256."""
    inter = round(expansion * width * 2 / 3)
    return -(-inter // 256) * 256


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learnable scale, in fp32 (official `rms_norm`)."""
    dtype = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)).to(dtype)


def rms_norm_(h: torch.Tensor, dim: int, eps: float) -> torch.Tensor:
    """`rms_norm` over `dim`, written into h (which the caller owns): the same ops, one fp32 copy in bf16."""
    x = h.float()  # h itself in fp32
    ms = x.square().mean(dim, keepdim=True)
    x.mul_(ms.add_(eps).rsqrt_())
    return h if x is h else h.copy_(x)


def swiglu_(gate_up: torch.Tensor, dim: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """silu(gate) * up of a gate_up projection split along `dim`, into `out` (gate is overwritten)."""
    gate, up = gate_up.chunk(2, dim=dim)
    return torch.mul(F.silu(gate, inplace=True), up, out=out)


class StepBuffers:
    """The in-place step's matmul and SwiGLU outputs, by name, allocated once per step and reused by every block
    call of it. A fresh output of this size (a [B L, 2I] gate_up: 25 MB in fp32 at 64 rollouts) comes from a fresh
    mmap whose page faults cost about as much as the matmul itself in fp32; the values are those of fresh outputs."""

    def __init__(self):
        self.outputs = {}

    def _out(self, name: str, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
        out = self.outputs.get(name)
        if out is None or out.shape != (rows, cols):
            out = self.outputs[name] = torch.empty(rows, cols, dtype=like.dtype, device=like.device)
        return out

    def mm(self, name: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.mm(a, b, out=self._out(name, a.shape[0], b.shape[1], a))

    def swiglu(self, name: str, gate_up: torch.Tensor) -> torch.Tensor:
        return swiglu_(gate_up, 1, out=self._out(name, gate_up.shape[0], gate_up.shape[1] // 2, gate_up))


def trunc_normal_(t: torch.Tensor, std: float) -> torch.Tensor:
    return nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


class CastedLinear(nn.Module):
    """Bias-free (by default) linear whose fp32 weight is cast to the input dtype at use."""

    def __init__(self, d_in: int, d_out: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(d_out, d_in), std=1 / math.sqrt(d_in)))
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None

    def forward(self, x):
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    def __init__(self, num: int, dim: int, std: float):
        super().__init__()
        self.embedding_weight = nn.Parameter(trunc_normal_(torch.empty(num, dim), std=std))

    def forward(self, ids, dtype):
        return F.embedding(ids, self.embedding_weight.to(dtype))


class PuzzleEmbedding(nn.Module):
    """Per-puzzle-identifier vector (official `CastedSparseEmbedding.weights`), zero-initialised."""

    def __init__(self, num: int, dim: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(num, dim))

    def forward(self, ids, dtype):
        return self.weights[ids].to(dtype)


class SwiGLU(nn.Module):
    def __init__(self, width: int, expansion: float):
        super().__init__()
        inter = swiglu_inter(width, expansion)
        self.gate_up_proj = CastedLinear(width, 2 * inter)
        self.down_proj = CastedLinear(inter, width)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    """Non-causal multi-head attention, fused qkv, RoPE applied in fp32."""

    def __init__(self, hidden: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, hidden // num_heads
        self.qkv_proj = CastedLinear(hidden, 3 * hidden)
        self.o_proj = CastedLinear(hidden, hidden)

    def forward(self, x, cos_sin):
        B, L, _ = x.shape
        qkv = self.qkv_proj(x).view(B, L, 3 * self.num_heads, self.head_dim)
        q, k, v = qkv.split(self.num_heads, dim=2)  # [B, L, heads, head_dim] each
        if cos_sin is not None:
            cos, sin = (t.unsqueeze(-2) for t in cos_sin)
            q, k = ((t * cos + rotate_half(t) * sin).to(x.dtype) for t in (q.float(), k.float()))
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.o_proj(out.transpose(1, 2).reshape(B, L, -1))


class Block(nn.Module):
    """Post-norm block: token mixing (MLP over the sequence axis, or attention), then a channel SwiGLU."""

    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.eps = cfg.rms_norm_eps
        if cfg.mlp_t:
            self.mlp_t = SwiGLU(cfg.total_len, cfg.expansion)
        else:
            self.self_attn = Attention(cfg.hidden_size, cfg.num_heads)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.expansion)

    def forward(self, h, cos_sin):
        if hasattr(self, "mlp_t"):
            # The norm runs over the TOKEN axis here, because h is transposed to [B, H, L].
            h = h.transpose(1, 2)
            h = rms_norm(h + self.mlp_t(h), self.eps).transpose(1, 2)
        else:
            h = rms_norm(h + self.self_attn(h, cos_sin), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)

    def forward_(self, h, cos_sin, w, buf: StepBuffers):
        """forward in place on h [B, L, H] (contiguous, the caller's to overwrite), weights `w` already cast,
        matmul and SwiGLU outputs in the step's buffers `buf`.

        h keeps its [B, L, H] layout: the token-mixing MLP reads a transposed copy (as F.linear would make)
        and adds its output back transposed, so its norm over the token axis is a norm over dim 1.
        """
        if hasattr(self, "mlp_t"):
            B, L, H = h.shape
            tokens = h.transpose(1, 2).reshape(B * H, L)              # [B H, L]: the one copy
            gate_up = buf.mm("mlp_t.gate_up", tokens, w["mlp_t.gate_up_proj"].t())    # [B H, 2I]
            mixed = buf.mm("mlp_t.down", buf.swiglu("mlp_t.act", gate_up), w["mlp_t.down_proj"].t())
            h.add_(mixed.view(B, H, L).transpose(1, 2))
            rms_norm_(h, 1, self.eps)
        else:
            h = rms_norm(h + self.self_attn(h, cos_sin), self.eps)
        flat = h.view(-1, h.shape[-1])
        gate_up = buf.mm("mlp.gate_up", flat, w["mlp.gate_up_proj"].t())        # [B L, 2I]
        flat.add_(buf.mm("mlp.down", buf.swiglu("mlp.act", gate_up), w["mlp.down_proj"].t()))
        return rms_norm_(h, -1, self.eps)


class ReasoningModule(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.L_layers))

    def forward(self, h, injection, cos_sin):
        h = h + injection
        for layer in self.layers:
            h = layer(h, cos_sin)
        return h

    def forward_(self, h, injection, cos_sin, w, buf: StepBuffers):
        """forward without autograd: h + injection into a new tensor, then every block in place on it."""
        h = torch.add(h, injection)
        for i, layer in enumerate(self.layers):
            h = layer.forward_(h, cos_sin, w[i], buf)
        return h


class TRM(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.cfg = cfg
        hidden = cfg.hidden_size
        self.embed_scale = math.sqrt(hidden)
        self.embed_tokens = CastedEmbedding(cfg.vocab_size, hidden, std=1 / self.embed_scale)
        self.lm_head = CastedLinear(hidden, cfg.vocab_size)
        self.q_head = CastedLinear(hidden, 2, bias=True)
        with torch.no_grad():  # Q starts confidently "not done": sigmoid(-5) ~ 0.007
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)
        if cfg.puzzle_emb_ndim > 0:
            self.puzzle_emb = PuzzleEmbedding(cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
        if cfg.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(cfg.total_len, hidden, std=1 / self.embed_scale)
        elif cfg.pos_encodings == "rope":
            hd = hidden // cfg.num_heads
            inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
            freqs = torch.outer(torch.arange(cfg.total_len, dtype=torch.float32), inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            self.register_buffer("rope_cos", emb.cos(), persistent=False)
            self.register_buffer("rope_sin", emb.sin(), persistent=False)
        elif cfg.pos_encodings != "none":
            raise ValueError(f"pos_encodings must be rope, learned or none, not {cfg.pos_encodings!r}")
        self.L_level = ReasoningModule(cfg)
        # Fixed initial states, never trained (stored in the checkpoint like the official bf16 buffers).
        self.register_buffer("H_init", trunc_normal_(torch.empty(hidden), std=1))
        self.register_buffer("L_init", trunc_normal_(torch.empty(hidden), std=1))

    @property
    def device(self):
        return self.lm_head.weight.device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def input_embeddings(self, inputs, puzzle_identifiers, dtype):
        cfg = self.cfg
        e = self.embed_tokens(inputs.long(), dtype)
        if cfg.puzzle_emb_len > 0:
            pe = torch.zeros(e.shape[0], cfg.puzzle_emb_len * cfg.hidden_size, dtype=dtype, device=e.device)
            if cfg.puzzle_emb_ndim > 0:  # only the leading ndim values are set; the rest is zero padding
                pe[:, : cfg.puzzle_emb_ndim] = self.puzzle_emb(puzzle_identifiers.long(), dtype)
            e = torch.cat((pe.view(-1, cfg.puzzle_emb_len, cfg.hidden_size), e), dim=1)
        if cfg.pos_encodings == "learned":
            e = 0.707106781 * (e + self.embed_pos.embedding_weight.to(dtype))
        return self.embed_scale * e

    def initial_carry(self, batch_size: int, dtype=torch.float32):
        """(zH, zL) at the start of a rollout: the fixed init vectors broadcast to every position."""
        shape = (batch_size, self.cfg.total_len, self.cfg.hidden_size)
        return (self.H_init.to(dtype).expand(shape).clone(), self.L_init.to(dtype).expand(shape).clone())

    def step(self, carry, x):
        """One supervision step from carry (zH, zL) with input embeddings x.

        Returns the detached new carry, logits [B, S, vocab] and q_halt [B] (fp32). Gradients flow only
        through the last of the T recursions, as in the official code. Without gradients it runs in place
        (`_step_inference`), with the same values.
        """
        if not torch.is_grad_enabled():
            return self._step_inference(carry, x)
        return self.step_autograd(carry, x)

    def step_autograd(self, carry, x):
        """`step` as the official code writes it, op by op: what training runs, and the reference for the
        in-place path."""
        cos_sin = (self.rope_cos, self.rope_sin) if self.cfg.pos_encodings == "rope" else None
        net = self.L_level
        zH, zL = carry
        with torch.no_grad():
            for _ in range(self.cfg.H_cycles - 1):
                for _ in range(self.cfg.L_cycles):
                    zL = net(zL, zH + x, cos_sin)
                zH = net(zH, zL, cos_sin)
        for _ in range(self.cfg.L_cycles):
            zL = net(zL, zH + x, cos_sin)
        zH = net(zH, zL, cos_sin)
        logits = self.lm_head(zH)[:, self.cfg.puzzle_emb_len:]
        q = self.q_head(zH[:, 0]).float()
        return (zH.detach(), zL.detach()), logits, q[..., 0]

    def cast_weights(self, dtype) -> list[dict]:
        """Per block, its linear weights (by their name in the block) in `dtype`: cast once per step, not at
        every use (a few hundred kB in bf16, nothing to keep between steps; in fp32 the weights themselves)."""
        return [{name.removesuffix(".weight"): p.to(dtype) for name, p in layer.named_parameters()}
                for layer in self.L_level.layers]

    def _step_inference(self, carry, x, buf: StepBuffers | None = None):
        """`step` without autograd: the same values, computed in place (see the module docstring); `buf`, the
        step's output buffers (new ones by default; benchmarks/bench_search.py passes others to compare)."""
        cos_sin = (self.rope_cos, self.rope_sin) if self.cfg.pos_encodings == "rope" else None
        net, w, buf = self.L_level, self.cast_weights(x.dtype), buf or StepBuffers()
        zH, zL = carry
        for _ in range(self.cfg.H_cycles):
            injection = zH + x  # the same for every latent update of this recursion
            for _ in range(self.cfg.L_cycles):
                zL = net.forward_(zL, injection, cos_sin, w, buf)
            zH = net.forward_(zH, zL, cos_sin, w, buf)
        logits = self.lm_head(zH)[:, self.cfg.puzzle_emb_len:]
        q = self.q_head(zH[:, 0]).float()
        return (zH, zL), logits, q[..., 0]
