"""DiffWave-family denoiser: dilated residual convolutions with gated units and skips.

Architecture (Kong et al., 2021, "DiffWave: A Versatile Diffusion Model for Audio
Synthesis"), with the noise level given as ``logsnr`` instead of a step index:

* input: 1x1 conv ``in_channels -> C``, ReLU;
* noise level: Fourier features of ``logsnr`` -> MLP -> one vector per batch element
  (plus the class embedding when class-conditioned), projected by a per-layer Linear to
  ``C`` and added to the residual stream before the dilated convolution;
* residual layer ``i``: dilated conv ``C -> 2C`` (dilation ``2 ** (i % cycle)``, kernel
  ``k``, "same" padding), plus the per-layer 1x1 projection of the upsampled mel
  (``mel_bins -> 2C``), gated unit ``tanh(a) * sigmoid(b)``, 1x1 conv ``C -> 2C`` split
  into a residual half (``x <- (x + residual) / sqrt(2)``) and a skip half;
* output: sum of skips / sqrt(N), 1x1 conv ``C -> C``, ReLU, 1x1 conv ``C -> out_channels``
  initialised to zero (an untrained network outputs exactly 0).

The output has the same time length as ``x_t``; what it predicts (eps, x0 or v) is decided
by the training objective, not by the network.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ConfiguredDenoiser
from .conditioners import ClassEmbedding, Conditioning, MelUpsampler, factorize_hop
from .config import DenoiserConfig
from .embeddings import NoiseLevelEmbedding
from .fast import fast_forward
from .step_embedding import DiffWaveStepEmbedding

__all__ = ["DiffWave", "ResidualLayer"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)



def _conv1d(
    in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1, padding: int = 0
) -> nn.Conv1d:
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, padding=padding)
    nn.init.kaiming_normal_(conv.weight)
    return conv


class ResidualLayer(nn.Module):
    """One gated residual layer.

    Args:
        channels: residual width C.
        dilation: dilation of the kernel-``kernel_size`` convolution.
        kernel_size: kernel size k of the dilated convolution.
        embedding_dim: width of the noise-level (+ class) vector.
        mel_bins: mel channels of the conditioning features, or ``None``.

    Shapes:
        ``x``: ``(B, C, T)``, ``embedding``: ``(B, embedding_dim)``,
        ``mel``: ``(B, mel_bins, T)`` or ``None`` -> ``(residual_out (B, C, T), skip (B, C, T))``.
    """

    def __init__(
        self, channels: int, dilation: int, kernel_size: int, embedding_dim: int, mel_bins: int | None
    ) -> None:
        super().__init__()
        self.dilation = dilation
        # "same" padding: (k - 1) * d samples in total, the odd one (even k) on the right.
        total = (kernel_size - 1) * dilation
        self._pad = (total // 2, total - total // 2)
        symmetric = self._pad[0] == self._pad[1]
        self.embedding_proj = nn.Linear(embedding_dim, channels)
        self.dilated_conv = _conv1d(channels, 2 * channels, kernel_size, dilation, self._pad[0] if symmetric else 0)
        if symmetric:
            self._pad = None
        self.mel_proj = _conv1d(mel_bins, 2 * channels) if mel_bins is not None else None
        self.output_proj = _conv1d(channels, 2 * channels)

    def forward(self, x: Tensor, embedding: Tensor, mel: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # Without autograd (sampling) the elementwise steps run in place: fewer full-size
        # buffers, which matters for long clips and large batches on CPU.
        inplace = not torch.is_grad_enabled()
        h = x + self.embedding_proj(embedding).unsqueeze(-1)
        if self._pad is not None:
            h = F.pad(h, self._pad)
        conv = self.dilated_conv
        if self.mel_proj is None:
            y = conv(h)
        else:
            if mel is None:
                raise ValueError("this residual layer is mel-conditioned but no mel features were given")
            # dilated conv (with both biases), then the mel 1x1 projection accumulated into
            # its output by one batched matmul: (B, 2C, M) @ (B, M, T).
            y = F.conv1d(h, conv.weight, conv.bias + self.mel_proj.bias, padding=conv.padding, dilation=conv.dilation)
            w = self.mel_proj.weight.squeeze(-1)
            y = y.baddbmm_(w.expand(y.shape[0], -1, -1), mel)
        gate, filt = y.chunk(2, dim=1)
        if inplace:
            g = torch.tanh_(gate).mul_(torch.sigmoid_(filt))
        else:
            g = torch.tanh(gate) * torch.sigmoid(filt)
        residual, skip = self.output_proj(g).chunk(2, dim=1)
        if inplace:
            out = residual.add_(x).mul_(_INV_SQRT2)
        else:
            out = torch.add(x, residual).mul_(_INV_SQRT2)
        return out, skip


class DiffWave(ConfiguredDenoiser):
    """DiffWave-family denoiser conditioned on ``logsnr`` (and optionally mel / class).

    Args:
        config: the architecture; see :class:`DenoiserConfig`.

    Call:
        ``net(x_t, logsnr, mel=None, class_label=None, cond=None) -> (B, out_channels, T)``

        * ``x_t``: ``(B, in_channels, T)`` noisy audio, any ``T >= 1``;
        * ``logsnr``: ``(B,)`` float, ``log(alpha^2 / sigma^2)`` of each element (a 0-dim
          tensor or a Python float is broadcast to the batch); finite values, typically
          in ``[-20, 20]`` (schedules clip to a finite range);
        * ``mel``: ``(B, mel_bins, F)`` with ``F == T // hop`` or ``F == ceil(T / hop)``,
          required exactly when the network is mel-conditioned;
        * ``class_label``: ``(B,)`` integer labels in ``0 .. num_classes`` (``num_classes``
          = :attr:`null_class`), required exactly when the network is class-conditioned
          (an ``int`` or a ``(1,)`` tensor is broadcast to the batch);
        * ``cond``: a :class:`Conditioning` from :meth:`condition`, used instead of
          ``mel`` / ``class_label`` (compute it once per clip, reuse it at every step).

    Invalid shapes or missing / unexpected conditioning raise ``ValueError``.
    """

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        if not isinstance(config, DenoiserConfig):
            raise ValueError(f"DiffWave expects a DenoiserConfig, got {type(config).__name__}")
        self.config = config
        c = config.residual_channels
        self.input_proj = _conv1d(config.in_channels, c)
        self.noise_embedding = (
            NoiseLevelEmbedding(config.embedding_dim, config.mlp_dim)
            if config.noise_embedding == "fourier"
            else DiffWaveStepEmbedding(config.step_betas, config.embedding_dim, config.mlp_dim)
        )
        self.class_embedding = (
            ClassEmbedding(config.num_classes, config.mlp_dim) if config.num_classes is not None else None
        )
        self.mel_upsampler = (
            MelUpsampler(config.hop, config.upsample_factors or factorize_hop(config.hop))
            if config.mel_bins is not None
            else None
        )
        self.layers = nn.ModuleList(
            ResidualLayer(
                c,
                dilation=2 ** (i % config.dilation_cycle),
                kernel_size=config.kernel_size,
                embedding_dim=config.mlp_dim,
                mel_bins=config.mel_bins,
            )
            for i in range(config.residual_layers)
        )
        self.skip_proj = _conv1d(c, c)
        self.output_proj = nn.Conv1d(c, config.out_channels, 1)
        nn.init.zeros_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)
        # Without autograd, use the fused inference path (nn/fast.py); set False to run the
        # plain layer-by-layer modules instead (same outputs to float rounding).
        self.fast_inference = True

    # ------------------------------------------------------------------ properties
    @property
    def dilations(self) -> list[int]:
        """Dilation of each residual layer."""
        return [layer.dilation for layer in self.layers]

    @property
    def receptive_field(self) -> int:
        """Number of input samples of ``x_t`` that one output sample depends on:
        ``1 + sum_i (kernel_size - 1) * dilation_i``."""
        k = self.config.kernel_size
        return 1 + sum((k - 1) * 2 ** (i % self.config.dilation_cycle) for i in range(self.config.residual_layers))

    # ------------------------------------------------------------------ conditioning
    def condition(self, mel: Tensor | None = None, class_label: Tensor | int | None = None) -> Conditioning:
        """Precompute the conditioning that does not depend on ``x_t`` or ``logsnr``.

        Args:
            mel: ``(B, mel_bins, F)`` mel spectrogram (required iff mel-conditioned).
            class_label: ``(B,)`` integer labels, or an ``int`` / ``(1,)`` tensor for the
                whole batch (required iff class-conditioned).

        Returns:
            a :class:`Conditioning` holding the mel upsampled to ``(B, mel_bins, F * hop)``
            and the ``(B, mlp_dim)`` class embedding; pass it as ``cond=`` to :meth:`forward`.
            For sampling, compute it under ``torch.inference_mode()`` / ``torch.no_grad()``
            like the steps that reuse it (with autograd on, it carries the graph of the
            upsampler and the class table, which one backward pass consumes).
        """
        cfg = self.config
        batch: int | None = None
        mel_features, frames = None, None
        if cfg.mel_bins is None:
            if mel is not None:
                raise ValueError(
                    "this denoiser is not mel-conditioned (mel_bins=None) but a mel was given; "
                    "build it with mel_bins=... to vocode"
                )
        else:
            if mel is None:
                raise ValueError(
                    f"this denoiser is mel-conditioned: expected mel of shape (B, {cfg.mel_bins}, frames), got None"
                )
            if not isinstance(mel, Tensor):
                raise ValueError(f"mel must be a torch.Tensor, got {type(mel).__name__}")
            if mel.dim() != 3 or mel.shape[1] != cfg.mel_bins:
                raise ValueError(
                    f"expected mel of shape (B, {cfg.mel_bins}, frames) (mel_bins={cfg.mel_bins}), "
                    f"got shape {tuple(mel.shape)}"
                )
            if mel.shape[-1] < 1:
                raise ValueError("mel has 0 frames; expected at least 1")
            batch = mel.shape[0]
            frames = mel.shape[-1]
            weight = self.mel_upsampler.stages[0].conv.weight if len(self.mel_upsampler.stages) else None
            if weight is not None:
                mel = mel.to(device=weight.device, dtype=weight.dtype)
            mel_features = self.mel_upsampler((mel - cfg.mel_offset) / cfg.mel_scale)

        class_embedding = self._embed_class(class_label, batch)
        return Conditioning(
            mel_features=mel_features,
            frames=frames,
            hop=cfg.hop if mel_features is not None else None,
            class_embedding=class_embedding,
        )

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        x_t: Tensor,
        logsnr: Tensor | float,
        mel: Tensor | None = None,
        class_label: Tensor | int | None = None,
        cond: Conditioning | None = None,
    ) -> Tensor:
        """Network output for noisy audio ``x_t`` at noise level ``logsnr``.

        Shapes: ``x_t (B, in_channels, T)``, ``logsnr (B,)`` -> ``(B, out_channels, T)``.
        See the class docstring for the conditioning arguments.
        """
        cfg = self.config
        if not isinstance(x_t, Tensor):
            raise ValueError(f"x_t must be a torch.Tensor, got {type(x_t).__name__}")
        if x_t.dim() != 3 or x_t.shape[1] != cfg.in_channels or x_t.shape[-1] < 1:
            raise ValueError(
                f"expected x_t of shape (B, {cfg.in_channels}, T) with T >= 1, got shape {tuple(x_t.shape)}"
            )
        batch, _, length = x_t.shape

        if not isinstance(logsnr, Tensor):
            dtype = torch.float64 if x_t.dtype == torch.float64 else torch.float32
            logsnr = torch.tensor(logsnr, dtype=dtype, device=x_t.device)
        if not logsnr.dtype.is_floating_point:
            raise ValueError(f"logsnr must be a float tensor of shape ({batch},), got dtype {logsnr.dtype}")
        if logsnr.dim() == 0:
            logsnr = logsnr.expand(batch)
        elif logsnr.shape != (batch,):
            raise ValueError(
                f"expected logsnr of shape ({batch},) (one value per batch element), got {tuple(logsnr.shape)}"
            )

        if cond is None:
            cond = self.condition(mel=mel, class_label=class_label)
        elif mel is not None or class_label is not None:
            raise ValueError("pass either cond=... or mel/class_label, not both")
        self._check_conditioning(cond, batch)

        embedding = self.noise_embedding(logsnr)
        if cond.class_embedding is not None:
            embedding = embedding + cond.class_embedding.to(embedding.dtype)
        mel_features = cond.mel_for_length(length)

        if self._use_fast_path(x_t, embedding, mel_features):
            # sampling / vocoding: the fused, cache-blocked path (same outputs, see nn/fast.py)
            return fast_forward(self, x_t, embedding, mel_features)
        return self._body(x_t, embedding, mel_features)

    def _use_fast_path(self, x_t: Tensor, *inputs: Tensor | None) -> bool:
        """The fused path serves every call that autograd does not record (``no_grad`` /
        ``inference_mode``, or no input and no parameter requiring a gradient, e.g. a frozen
        EMA copy), outside autocast, in float32/64 or bfloat16 (its unscaled residual stream
        can exceed the float16 range)."""
        if not self.fast_inference or torch.is_autocast_enabled(x_t.device.type):
            return False
        if x_t.dtype not in (torch.float32, torch.float64, torch.bfloat16) or x_t.dtype != self.input_proj.weight.dtype:
            return False
        if torch.is_grad_enabled():
            tensors = (x_t, *(t for t in inputs if t is not None))
            if any(t.requires_grad for t in tensors) or any(p.requires_grad for p in self.parameters()):
                return False
        return True

    def _body(self, x_t: Tensor, embedding: Tensor, mel_features: Tensor | None) -> Tensor:
        """The network proper. ``x_t (B, in, T)``, ``embedding (B, mlp_dim)``,
        ``mel_features (B, mel_bins, T)`` or ``None`` -> ``(B, out, T)``."""
        x = F.relu(self.input_proj(x_t))
        skips: Tensor | None = None
        for layer in self.layers:
            x, skip = layer(x, embedding, mel_features)
            if skips is None:
                skips = skip.clone(memory_format=torch.contiguous_format)
            else:
                skips.add_(skip)
        assert skips is not None
        y = F.relu(self.skip_proj(skips.mul_(1.0 / math.sqrt(len(self.layers)))))
        return self.output_proj(y)

    def _check_conditioning(self, cond: Conditioning, batch: int) -> None:
        cfg = self.config
        if not isinstance(cond, Conditioning):
            raise ValueError(f"cond must be a Conditioning from net.condition(...), got {type(cond).__name__}")
        if cfg.mel_bins is not None:
            feats = cond.mel_features
            if feats is None:
                raise ValueError(
                    f"this denoiser is mel-conditioned: expected mel of shape (B, {cfg.mel_bins}, frames), got None"
                )
            if feats.shape[1] != cfg.mel_bins or cond.hop != cfg.hop:
                raise ValueError(
                    f"cond was made for mel_bins={feats.shape[1]}, hop={cond.hop}; this denoiser expects "
                    f"mel_bins={cfg.mel_bins}, hop={cfg.hop}"
                )
        elif cond.mel_features is not None:
            raise ValueError("this denoiser is not mel-conditioned (mel_bins=None) but cond carries mel features")
        if cfg.num_classes is not None:
            if cond.class_embedding is None:
                raise ValueError(
                    f"this denoiser is class-conditioned: expected class_label of shape (B,) with values in "
                    f"0..{cfg.num_classes} ({cfg.num_classes} = null class), got None"
                )
        elif cond.class_embedding is not None:
            raise ValueError(
                "this denoiser is not class-conditioned (num_classes=None) but cond carries a class embedding"
            )
        if cond.mel_features is not None and cond.mel_features.shape[0] != batch:
            raise ValueError(f"mel has batch size {cond.mel_features.shape[0]} but x_t has batch size {batch}")
        # One class for the whole batch (an int label, or a (1,) tensor) broadcasts.
        if cond.class_embedding is not None and cond.class_embedding.shape[0] not in (1, batch):
            raise ValueError(
                f"class_label has batch size {cond.class_embedding.shape[0]} but x_t has batch size {batch}"
            )

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"layers={c.residual_layers}, channels={c.residual_channels}, cycle={c.dilation_cycle}, "
            f"kernel={c.kernel_size}, mel_bins={c.mel_bins}, hop={c.hop}, num_classes={c.num_classes}, "
            f"receptive_field={self.receptive_field}"
        )

    # ------------------------------------------------------------------ cost
    def macs_per_sample(self) -> float:
        """Multiply-accumulates of one forward pass per audio sample (batch element 1).

        Counted: every convolution at audio rate (input conv, each layer's dilated conv,
        mel projection and output projection, the two output-head convs) and the mel
        upsampler (per frame, divided by ``hop``). Not counted: the noise-level MLP and
        the per-layer embedding Linears (once per clip, not per sample), biases,
        elementwise operations (gates, additions, activations).
        """
        c = self.config
        ch = c.residual_channels
        per_layer = c.kernel_size * ch * 2 * ch + ch * 2 * ch
        if c.mel_bins is not None:
            per_layer += c.mel_bins * 2 * ch
        total = c.in_channels * ch + c.residual_layers * per_layer + ch * ch + ch * c.out_channels
        if self.mel_upsampler is not None:
            total += self.mel_upsampler.macs_per_frame(c.mel_bins) / c.hop
        return float(total)
