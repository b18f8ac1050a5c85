"""Inference path of the DiffWave denoiser: one GEMM per residual layer, cache-sized blocks.

The same network as :class:`~wavediff.nn.DiffWave`'s autograd path (same parameters, same
outputs to float rounding), arranged for speed when no gradient is needed (sampling,
vocoding, evaluation):

* **One GEMM per layer for the dilated conv and the mel projection.** The ``k`` shifted
  views of the residual stream (taps ``t + j * d - pad``) and the upsampled mel are stacked
  into one ``(k * C + mel_bins, n)`` block, multiplied by the concatenated weights
  ``(2C, k * C + mel_bins)``: one large, efficient matmul instead of a dilated conv (whose
  CPU kernels reach far less of the machine) plus a second matmul for the mel.
* **The noise-level vector is added while stacking** (``h = x + e`` costs no extra pass), and
  the residual biases are carried as a per-channel constant added at the same place.
* **Gate with one transcendental pass.** ``tanh(a) * sigmoid(b) = (2 sigmoid(2a) - 1) *
  sigmoid(b)``: the factor 2 is folded into the weights, so one in-place ``sigmoid`` over the
  ``(2C, n)`` block and one ``addcmul`` give the gate (on the CPU ``tanh`` is ~3x slower
  than ``sigmoid``); its sign is folded into the output weights.
* **Residual and skip updated by one accumulating GEMM.** The residual stream is kept
  unscaled (the ``1 / sqrt(2)`` per layer moves into the next layer's input weights, the
  biases into a per-channel constant), so ``x <- (x + r) / sqrt(2)`` and ``skip <- skip + s``
  become one ``[x; skip] += W g`` with no separate elementwise pass.
* **Cache-sized time blocks, in place.** Each layer runs over blocks of ``n`` samples whose
  work buffers stay in cache; the state is updated in place one block behind the block being
  read, so the taps of the next block still see the previous layer's values.

Nothing here is differentiable: :meth:`DiffWave.forward` uses it only when autograd is off.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["FoldedWeights", "fold_weights", "fast_forward", "block_columns"]

# Size of one block's stacked input ((k C + mel_bins) x n values) on the CPU: it and the gate
# buffers then stay in the L2/L3 caches while each matmul is still large enough to run at full
# speed (~1400 samples for DiffWave base, measured best among 768..3072; more for narrower
# networks, where per-call overheads would otherwise dominate).
CPU_BLOCK_BYTES = 3 * 2**19


@dataclass
class FoldedWeights:
    """The parameters of a :class:`~wavediff.nn.DiffWave` rearranged for :func:`fast_forward`.

    The residual stream after ``i`` layers is kept as ``x_i = 2 ** (-i / 2) * (v + r_i)``:
    ``x <- (x + W_res g + b_res) / sqrt(2)`` then becomes the plain accumulation
    ``v <- v + 2 ** (i / 2) * W_res g`` (the scale of ``x`` moves into the next layer's input
    weights, the biases into the per-channel constant ``r_i``), so residual and skip rows share
    one ``+=`` matmul.

    Attributes:
        w_in: ``(N, 2C, k * C + mel_bins)``: the dilated-conv taps side by side (scaled by
            ``2 ** (-i / 2)``), then the mel projection; the tanh rows (first C) doubled.
        b_in: ``(N, 2C, 1)``: dilated-conv bias + mel-projection bias, tanh rows doubled.
        w_out: ``(N, 2C, C)``: minus the output 1x1 conv (the gate is computed negated),
            residual rows scaled by ``2 ** (i / 2)``.
        shift_scale: ``(N, 1)``: ``2 ** (i / 2)``, applied to the noise-level vector of layer i.
        residual_const: ``(N, C)``: ``r_i``, the scaled residual biases of the layers before i.
        embed_w, embed_b: all layers' noise-level projections stacked, ``(N * C, mlp_dim)``
            and ``(N * C,)``.
        head_w, head_b: the skip 1x1 conv with ``1 / sqrt(N)`` and the summed skip biases
            folded in, ``(C, C)`` and ``(C, 1)``.
    """

    w_in: Tensor
    b_in: Tensor
    w_out: Tensor
    shift_scale: Tensor
    residual_const: Tensor
    embed_w: Tensor
    embed_b: Tensor
    head_w: Tensor
    head_b: Tensor


@torch.no_grad()
def fold_weights(net: "torch.nn.Module") -> FoldedWeights:
    """Rearrange the parameters of a :class:`~wavediff.nn.DiffWave` for :func:`fast_forward`.

    A dozen batched tensor operations: cheap enough to redo at every call, so the result
    always reflects the current parameters.
    """
    layers = net.layers
    n, c = len(layers), net.config.residual_channels
    conv_w = torch.stack([layer.dilated_conv.weight for layer in layers])  # (N, 2C, C, k)
    ref = conv_w
    k = conv_w.shape[-1]
    # 2 ** (-i / 2): the scale of the residual stream entering layer i
    stream_scale = torch.pow(2.0, -torch.arange(n, dtype=ref.dtype, device=ref.device) / 2)
    taps = (conv_w * stream_scale[:, None, None, None]).permute(0, 1, 3, 2).reshape(n, 2 * c, k * c)
    bias = torch.stack([layer.dilated_conv.bias for layer in layers])
    if layers[0].mel_proj is not None:
        taps = torch.cat([taps, torch.stack([layer.mel_proj.weight[:, :, 0] for layer in layers])], dim=2)
        bias = bias + torch.stack([layer.mel_proj.bias for layer in layers])
    gate_scale = torch.ones(2 * c, 1, dtype=ref.dtype, device=ref.device)
    gate_scale[:c] = 2.0  # tanh(a) = 2 sigmoid(2a) - 1
    out_w = torch.stack([layer.output_proj.weight[:, :, 0] for layer in layers])  # (N, 2C, C)
    out_b = torch.stack([layer.output_proj.bias for layer in layers])  # (N, 2C)
    # layer i adds its residual (W_res g + b_res) * 2 ** (i / 2) to v
    out_w = torch.cat([out_w[:, :c] / stream_scale[:, None, None], out_w[:, c:]], dim=1)
    res_b = out_b[:, :c] / stream_scale[:, None]
    residual_const = torch.cumsum(res_b, dim=0) - res_b  # what the layers before i added
    skip_w = net.skip_proj.weight[:, :, 0] / math.sqrt(n)
    return FoldedWeights(
        w_in=(taps * gate_scale).contiguous(),
        b_in=(bias[:, :, None] * gate_scale).contiguous(),
        w_out=(-out_w).contiguous(),
        shift_scale=(1.0 / stream_scale)[:, None],
        residual_const=residual_const,
        embed_w=torch.cat([layer.embedding_proj.weight for layer in layers], dim=0),
        embed_b=torch.cat([layer.embedding_proj.bias for layer in layers], dim=0),
        head_w=skip_w.contiguous(),
        head_b=(net.skip_proj.bias + skip_w @ out_b[:, c:].sum(0))[:, None],
    )


def folded_weights(net: "torch.nn.Module") -> FoldedWeights:
    """:func:`fold_weights`, cached on ``net`` until a parameter changes (sampling calls the
    network many times with the same weights). A change is seen through each parameter's
    storage and version counter, which every in-place update (optimiser step, EMA update,
    ``load_state_dict``, ``.to()``) advances; writes through ``param.data`` bypass the
    counter, so code that edits weights that way should call :func:`fold_weights` itself
    or delete ``net._fast_weights``."""
    key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in net.parameters())
    cached = getattr(net, "_fast_weights", None)
    if cached is None or cached[0] != key:
        cached = (key, fold_weights(net))
        net._fast_weights = cached
    return cached[1]


def block_columns(device: torch.device, rows: int, element_size: int) -> int:
    """Columns (batch elements x samples) per block for a stacked input of ``rows`` rows:
    cache-sized on the CPU (:data:`CPU_BLOCK_BYTES`), unlimited (one block) elsewhere."""
    if device.type != "cpu":
        return 2**62
    return max(256, CPU_BLOCK_BYTES // (rows * element_size))


def _mm(out: Tensor, bias: Tensor | None, weight: Tensor, x: Tensor, beta: float = 1.0, alpha: float = 1.0) -> None:
    """``out = beta * bias + alpha * weight @ x`` for a batch ``x (B, K, n)``, into ``out (B, R, n)``.

    ``bias=None`` accumulates into ``out`` itself (``out = beta * out + alpha * W x``).
    """
    if out.shape[0] == 1:  # a plain matmul: no batch bookkeeping
        if bias is None:
            out[0].addmm_(weight, x[0], beta=beta, alpha=alpha)
        else:
            torch.addmm(bias, weight, x[0], beta=beta, alpha=alpha, out=out[0])
    elif bias is None:
        out.baddbmm_(weight.expand(out.shape[0], -1, -1), x, beta=beta, alpha=alpha)
    else:
        torch.baddbmm(bias.expand(out.shape[0], -1, x.shape[-1]), weight.expand(out.shape[0], -1, -1), x,
                      beta=beta, alpha=alpha, out=out)


def fast_forward(net: "torch.nn.Module", x_t: Tensor, embedding: Tensor, mel_features: Tensor | None,
                 max_columns: int | None = None, streams: int | None = None) -> Tensor:
    """The denoiser body without autograd: ``x_t (B, in, T)``, ``embedding (B, mlp_dim)``
    (noise level + class), ``mel_features (B, mel_bins, T)`` or ``None`` -> ``(B, out, T)``.

    ``max_columns``: batch elements x samples per block (default: :func:`block_columns`).
    Batch elements are processed in groups so that a group fits a block when the clips are
    short; long clips are processed one at a time, in time blocks.

    ``streams``: CPU worker threads sharing the work (default :func:`cpu_streams`): each runs
    with one intra-op thread on its own blocks (a contiguous range of the clip, or whole
    groups of short clips), synchronised once per layer. On a small CPU this beats splitting
    every small per-block operation over the intra-op threads, whose synchronisation costs
    more than the operations gain.
    """
    cfg = net.config
    batch, _, length = x_t.shape
    c, k = cfg.residual_channels, cfg.kernel_size
    fw = folded_weights(net)
    rows = k * c + (0 if mel_features is None else mel_features.shape[1])
    max_columns = max_columns or block_columns(x_t.device, rows, x_t.element_size())
    # every block must be at least as long as the reach of the taps (see _Group)
    reach = max(_reach(k, d)[1] for d in net.dilations)
    group = max(1, min(batch, max_columns // max(length, 1)))
    block = min(length, max(reach, max_columns // group, 1))
    # what stacking adds to the residual stream of layer i: 2 ** (i / 2) * e_i + r_i
    per_layer_e = F.linear(embedding, fw.embed_w, fw.embed_b).view(batch, len(net.layers), c)
    shifts = per_layer_e * fw.shift_scale + fw.residual_const
    out = torch.empty(batch, cfg.out_channels, length, dtype=x_t.dtype, device=x_t.device)

    def make(g0: int) -> _Group:  # made when needed: a group holds the state of its clips
        return _Group(net, fw, x_t[g0:g0 + group], shifts[g0:g0 + group],
                      None if mel_features is None else mel_features[g0:g0 + group], out[g0:g0 + group], block)

    starts = range(0, batch, group)
    streams = cpu_streams(x_t.device) if streams is None else max(1, streams)
    spans = -(-length // block)  # time blocks per group
    if streams == 1 or (len(starts) == 1 and spans == 1):
        for g0 in starts:
            make(g0).sweep(0, spans)
    elif spans >= streams:
        # long clips: each group split in time over the streams, synchronised per layer
        bounds = [spans * s // streams for s in range(streams + 1)]
        for g0 in starts:
            g = make(g0)
            g.prepare_streams(streams)
            barrier = threading.Barrier(streams)
            _pool(streams).run([(lambda s=s: g.sweep(bounds[s], bounds[s + 1], stream=s, barrier=barrier))
                                for s in range(streams)])
    else:
        # short clips (one block per group): whole groups to each stream, no synchronisation
        groups = [make(g0) for g0 in starts]
        _pool(streams).run([(lambda s=s: [g.sweep(0, spans) for g in groups[s::streams]]) for s in range(streams)])
    return out


def _reach(kernel_size: int, dilation: int) -> tuple[int, int]:
    """Samples a layer's taps reach to the left and to the right ("same" padding)."""
    total = (kernel_size - 1) * dilation
    return total // 2, total - total // 2


class _Group:
    """One group of batch elements: the state of the whole clip and the per-stream work
    buffers. ``sweep`` runs every layer over a range of time blocks (all of them, or one
    stream's share)."""

    def __init__(self, net, fw: FoldedWeights, x_t: Tensor, shifts: Tensor, feats: Tensor | None, out: Tensor,
                 block: int) -> None:
        cfg = net.config
        self.net, self.fw, self.shifts, self.feats, self.out = net, fw, shifts, feats, out
        self.c, self.k = cfg.residual_channels, cfg.kernel_size
        self.batch, _, self.length = x_t.shape
        self.block = block
        self.rows = self.k * self.c + (0 if feats is None else feats.shape[1])
        self.like = dict(dtype=x_t.dtype, device=x_t.device)
        # state = [v; skip] (B, 2C, T): residual stream (see FoldedWeights) and skip sum
        self.state = torch.empty(self.batch, 2 * self.c, self.length, **self.like)
        x = self.state[:, :self.c]
        _mm(x, net.input_proj.bias[:, None], net.input_proj.weight[:, :, 0], x_t)
        x.relu_()
        self.state[:, self.c:].zero_()
        self.buffers = [self._stream_buffers()]
        self.halos: list[tuple[Tensor, Tensor]] = []

    def _stream_buffers(self) -> tuple[Tensor, Tensor, list[Tensor]]:
        b, n, c = self.batch, self.block, self.c
        return (torch.empty(b, self.rows, n, **self.like), torch.empty(b, 2 * c, n, **self.like),
                [torch.empty(b, c, n, **self.like) for _ in range(2)])

    def prepare_streams(self, streams: int) -> None:
        """Work buffers for each stream (made here, in the calling thread, so that they share
        its grad / inference mode), and room for the columns each stream reads from its
        neighbours' ranges (at most one block either side)."""
        self.buffers += [self._stream_buffers() for _ in range(streams - len(self.buffers))]
        self.halos = [(torch.empty(self.batch, self.c, self.block, **self.like),
                       torch.empty(self.batch, self.c, self.block, **self.like)) for _ in range(streams)]

    def sweep(self, first: int, last: int, stream: int = 0, barrier: threading.Barrier | None = None) -> None:
        """All layers, then the output head, over time blocks ``first .. last - 1``. With a
        ``barrier`` the other blocks belong to other streams running concurrently: before
        each layer the columns this range reads outside itself are copied (halos), and no
        stream writes until all have copied."""
        try:
            self._sweep(first, last, stream, barrier)
        except BaseException:
            if barrier is not None:
                barrier.abort()  # the other streams stop instead of waiting forever
            raise

    def _sweep(self, first: int, last: int, stream: int, barrier: threading.Barrier | None) -> None:
        c, k, n, length = self.c, self.k, self.block, self.length
        fw, state, x = self.fw, self.state, self.state[:, :self.c]
        stacked, gate, g_bufs = self.buffers[stream]
        start, stop = first * n, min(length, last * n)
        spans = [(t0, min(stop, t0 + n)) for t0 in range(start, stop, n)]
        for i, layer in enumerate(self.net.layers):
            left, right = _reach(k, layer.dilation)
            sources = [(0, length, x, 0)]  # (lo, hi, tensor, index of lo in tensor)
            if barrier is not None:
                halo_l, halo_r = self.halos[stream]
                lo, hi = max(0, start - left), min(length, stop + right)
                halo_l[..., : start - lo].copy_(x[..., lo:start])
                halo_r[..., : hi - stop].copy_(x[..., stop:hi])
                sources = [(lo, start, halo_l, 0), (start, stop, x, start), (stop, hi, halo_r, 0)]
                barrier.wait()
            shift = self.shifts[:, i].unsqueeze(-1)  # (B, C, 1)
            pending: tuple[int, int, Tensor] | None = None
            for b, (t0, t1) in enumerate(spans):
                m = t1 - t0
                s = stacked[..., :m]
                # the k shifted views of h = x + e (zero outside the clip: "same" padding)
                for j in range(k):
                    o = j * layer.dilation - left
                    dst = s[:, j * c:(j + 1) * c]
                    for lo, hi, src, at in sources:
                        a, z = max(lo, t0 + o), min(hi, t1 + o)
                        if z > a:
                            torch.add(src[..., a - lo + at: z - lo + at], shift, out=dst[..., a - t0 - o: z - t0 - o])
                    before, after = -(t0 + o), length - (t0 + o)  # clip start and end, in dst
                    if before > 0:
                        dst[..., : min(before, m)].zero_()
                    if after < m:
                        dst[..., max(after, 0):].zero_()
                if self.feats is not None:
                    s[:, k * c:].copy_(self.feats[..., t0:t1])
                y = gate[..., :m]
                _mm(y, fw.b_in[i], fw.w_in[i], s)
                y.sigmoid_()
                g = g_bufs[b % 2][..., :m]
                # -(tanh(a) * sigmoid(b)) = sigmoid(b) - 2 sigmoid(2a) sigmoid(b)
                torch.addcmul(y[:, c:], y[:, :c], y[:, c:], value=-2.0, out=g)
                # The previous block is updated only now: this block's taps read its old values.
                if pending is not None:
                    _update(state, fw.w_out[i], *pending)
                pending = (t0, t1, g)
            if pending is not None:
                _update(state, fw.w_out[i], *pending)
            if barrier is not None:
                barrier.wait()
        # output head over this range (reusing the block buffers): relu(skip conv) -> 1x1 conv
        net = self.net
        for t0, t1 in spans:
            hidden = gate[:, :c, : t1 - t0]
            _mm(hidden, fw.head_b, fw.head_w, state[:, c:, t0:t1])
            hidden.relu_()
            _mm(self.out[..., t0:t1], net.output_proj.bias[:, None], net.output_proj.weight[:, :, 0], hidden)


def _update(state: Tensor, w_out: Tensor, t0: int, t1: int, g: Tensor) -> None:
    """``[v; skip] += W_out g`` on samples ``[t0, t1)``."""
    _mm(state[..., t0:t1], None, w_out, g)


# ------------------------------------------------------------------------------ CPU streams
# Used only by fast_forward; tests set it to exercise the multi-stream code on any machine.
CPU_STREAMS: int | None = None


def cpu_streams(device: torch.device) -> int:
    """Worker threads for the CPU path: :data:`CPU_STREAMS` when set, else the caller's
    intra-op thread count (``torch.get_num_threads()``); 1 on other devices."""
    if device.type != "cpu":
        return 1
    return CPU_STREAMS or torch.get_num_threads()


class _StreamPool:
    """Persistent daemon threads, each with one intra-op thread, running one callable each per
    :meth:`run` in the caller's grad mode."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tasks: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(size)]
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        caller_threads = torch.get_num_threads()
        for i in range(size):
            threading.Thread(target=self._loop, args=(self.tasks[i],), daemon=True, name=f"wavediff-stream-{i}").start()
        for _ in range(size):
            self.done.get()
        # torch.set_num_threads in a worker also resets two process-wide settings (the
        # default for new threads, the NNPACK pool); put back the caller's
        torch.set_num_threads(caller_threads)

    def _loop(self, tasks: queue.SimpleQueue) -> None:
        # torch initialises a thread's settings from the process-wide default on its first
        # parallel call; do that now, or it would later undo the 1 set here
        torch.get_num_threads()
        torch.set_num_threads(1)  # this thread's OpenMP and MKL settings
        self.done.put(None)
        while True:
            fn, inference = tasks.get()
            try:
                with torch.inference_mode() if inference else torch.no_grad():
                    fn()
                self.done.put(None)
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                self.done.put(err)

    def run(self, fns: list) -> None:
        inference = torch.is_inference_mode_enabled()
        for tasks, fn in zip(self.tasks, fns):
            tasks.put((fn, inference))
        errors = [self.done.get() for _ in fns]
        errors = [e for e in errors if e is not None]
        if errors:  # a failed stream breaks the barrier of the others: report the cause
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])


_POOLS: dict[int, _StreamPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(size: int) -> _StreamPool:
    with _POOLS_LOCK:
        if size not in _POOLS:
            _POOLS[size] = _StreamPool(size)
        return _POOLS[size]
