"""Spectral denoiser: a frame-rate network on the STFT of ``x_t``, with a Wiener prior.

Why: a waveform denoiser must see a whole pitch period (60-250 samples for speech, more
for low notes) before it can make harmonics, and DiffWave's dilated stacks pay for that
receptive field at every audio sample. This network works on STFT frames instead
(``stft_hop`` samples apart), so each position sees ``n_fft`` samples and a stack of
frame convolutions sees hundreds of milliseconds, at a fraction of the cost per sample.

Layout (all at frame rate):

* ``X = STFT(x_t) / sqrt(sum w^2)`` (periodic Hann window ``n_fft``, hop ``stft_hop``,
  centred frames), so unit-variance white noise has unit-variance coefficients;
* input features per frame: ``Re X``, ``Im X``, ``log |X|^2``, the per-bin signal-to-noise
  ratio of the prior ``log(alpha^2 Q / sigma^2)`` and the mel features, interpolated to
  the frame centres; a 1x1 convolution to ``channels``;
* ``blocks`` ConvNeXt blocks: depthwise convolution over frames (``kernel_size``), layer
  norm over channels, FiLM from the noise-level (+ class) embedding, pointwise MLP
  (``expansion``), residual;
* output head (zero-initialised): a complex residual ``R`` and ``taps`` complex filter
  coefficients ``C_j`` per bin and frame, applied to the neighbouring frames of the
  normalised input ``U = X / sqrt(alpha^2 Q + sigma^2)`` ("deep filtering"), scaled by a
  posterior standard deviation and added to the prior's posterior mean:

      X0_hat = alpha P / (alpha^2 P + sigma^2) X
               + sqrt(Q sigma^2 / (alpha^2 Q + sigma^2)) (R + sum_j C_j U[frame + j])
      x0_hat = ISTFT(X0_hat)

* ``P`` is the power that the mel implies for each STFT bin of ``x_0`` (non-negative
  least squares through the mel filter bank, rescaled by the data transform): under a
  Gaussian model of ``x_0`` with that power, the first term is the exact posterior mean
  ``E[x_0 | x_t]``. So an untrained vocoder already gives noise with the spectral envelope
  of the mel, and training learns only what a Gaussian cannot do: harmonics, phase
  coherence, transients. Without a mel (or with ``prior="none"``) ``P = Q = 1``: the
  unit-variance preconditioning of EDM (Karras et al., 2022), per bin.
* ``Q >= P`` covers what the mel smooths away: the largest ``P`` within 4 bins and one mel
  frame, times 2. The least-squares power misses harmonic peaks by up to a mel band's
  width, and where the Wiener mean then discards real signal at high SNR, the correction
  must restore it with an output of order 1 (measured: with ``Q = P`` the largest loss of
  a training batch reaches 550 and training diverges; with this cover 1.4).
* The scaling keeps every input at unit variance and every output correction in units
  of the remaining uncertainty, at every noise level: a correction never has to be
  learned to within ``sigma`` at the clean end, where the v / eps losses would magnify it.
* ``prior="learned"``: the least-squares magnitude misses what the mel's bands smooth
  away (above about 1 kHz a band is wider than the spacing of a voice's harmonics), and
  that, not the phase, is what limits a vocoder trained for CPU-minutes (Griffin-Lim
  from the true magnitude scores PESQ 3.7-3.9 on speech, from the least-squares one
  2.3-2.4; ``benchmarks/vocoder_cpu.py``). A small frame-rate network on the mel (and the
  least-squares log magnitude) predicts the log STFT magnitude of ``x_0`` with the mel's
  own framing; it is trained by regression (:meth:`SpectralDenoiser.auxiliary_loss`),
  never by the diffusion loss, and its square, mapped to the network's bins, is ``P``.
* ``projection_iterations > 0`` (inference only): each ``x0_hat`` is made consistent
  with the prior's magnitude by that many fast Griffin-Lim iterations with the mel's
  framing, starting from the network's own phase.

* ``prior="corpus"`` (no mel: unconditional or class-conditional generation): ``P`` is the
  training segments' mean power in every bin and frame, per class (the null class: all),
  fitted once before training (:meth:`SpectralDenoiser.fit_corpus_prior`). Notes that start
  near the beginning of each clip give a prior that holds the classes' silences, envelopes
  and spectral shapes, so the untrained network already makes noise with each class's
  envelope, and training learns the pitch. Unit power instead (``"none"``) leaves the
  network to learn that every bin above a note's band is silent: after 4 CPU minutes its
  samples still sat on a noise floor (``benchmarks/music_cpu.py``). With
  ``prior_components = K > 1`` (the demo recipe: 15) each class's prior is a mixture of ``K``
  such powers (k-means of its segments' spectra: about one per note), and the Wiener mean
  becomes the mixture's exact posterior mean given ``x_t`` (:mod:`wavediff.nn.corpus_prior`):
  a class mean holds the harmonics of all its notes, the posterior keeps the one note that
  fits ``x_t``. With ``prior_clustering="spectrum"`` the k-means groups the segments' spectra
  (their power averaged over frames), so that a component is one pitch whatever the note's
  envelope; with ``pin_components`` (the demo recipe: both) each labelled example's prior is
  one component instead of the posterior over all of them: in training the one its clean
  segment belongs to (:meth:`SpectralDenoiser.corpus_component`), in sampling one drawn from
  its class's weights (:meth:`SpectralDenoiser.draw_component`), passed as
  ``prior_component`` (``-1``: the mixture, which the null class of guidance keeps). The
  note is then chosen once per clip, in proportion to the training notes, instead of being
  settled step by step by the posterior, where guidance and a few large steps favour some
  notes and leave others out.
* ``frequency_layers > 0``: a time-frequency branch (:class:`~wavediff.nn.spectral_blocks.FrequencyNet`),
  2-D convolutions over (bins, frames) shared across frequency, adds its own complex residual
  and mask. The frame stack's 1x1 convolutions see every bin as a separate channel; a
  harmonic peak is the same shape at every frequency, and these kernels learn it once.
  With ``frequency_reads_stack`` (the demo recipe) the branch runs after the frame stack and
  reads its correction and per-bin maps: the stack sees every bin of a frame, the branch 7,
  and side by side neighbouring bands of one note settled on different pitches;
  ``harmonic_templates`` hands it the comb of a fundamental the stack chooses per frame.

* ``phase_features``: each bin's phase coherence with the previous and the next frame (a
  unit phasor, the advance of a sinusoid at the bin's centre removed) as four more input
  maps; ``harmonic_features``: the time-frequency branch also reads each bin's log
  magnitude at 1/3, 1/2, 2 and 3 times its frequency; ``self_conditioning``: the STFT of an
  earlier ``x_0`` estimate (``self_cond``) as three more maps. Measured on the demo notes
  (``benchmarks/music_cpu.py``), none adopted by its recipe (README).

The network predicts ``x0_hat``; :attr:`SpectralConfig.parameterisation` says which
quantity (``x0``, ``eps`` or ``v``) ``forward`` returns, computed exactly from
``x0_hat``, ``x_t`` and ``logsnr``, so it plugs into any objective and sampler.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ConfiguredDenoiser
from .conditioners import ClassEmbedding, Conditioning, check_frame_count
from .config import SpectralConfig
from .embeddings import NoiseLevelEmbedding
from .spectral_blocks import (
    FREQUENCY_KERNEL,
    MAGNITUDE_EXPANSION,
    MAGNITUDE_KERNEL,
    ChannelNorm,
    ConvNeXtBlock,
    FrequencyNet,
    MagnitudeNet,
)
from .corpus_prior import mixture_posterior
from .spectral_features import HARMONIC_RATIOS, HarmonicStack, HarmonicTemplates, PhaseCoherence
from .spectral_priors import POWER_FLOOR as _POWER_FLOOR
from .spectral_priors import CorpusPrior, MelPrior
from .spectral_priors import frames_repeating_last as _frames_repeating_last

__all__ = ["SpectralDenoiser"]

# neighbourhood (network bins, mel frames on each side) and gain of the prior's peak cover
# (measured on speech: the largest per-example loss of an untrained vocoder at high SNR
# drops from 550 to 1.4 over 900 training batches; benchmarks/vocoder_cpu.py)
_SPREAD_BINS = 4
_SPREAD_FRAMES = 1
_PRIOR_GAIN = 2.0


def _wiener_gain(power: Tensor, alpha2: Tensor, sigma2: Tensor) -> Tensor:
    """``E[X0 | X] / X`` under a zero-mean Gaussian prior of ``power`` per coefficient."""
    return alpha2.sqrt() * power / (alpha2 * power + sigma2)


class SpectralDenoiser(MelPrior, CorpusPrior, ConfiguredDenoiser):
    """Frame-rate STFT denoiser with a Wiener prior (see the module docstring).

    Call: ``net(x_t, logsnr, mel=None, class_label=None, cond=None) -> (B, 1, T)``, with
    the shapes and rules of :class:`wavediff.nn.DiffWave`; the output is in
    ``config.parameterisation``.
    """

    def __init__(self, config: SpectralConfig) -> None:
        super().__init__()
        if not isinstance(config, SpectralConfig):
            raise ValueError(f"SpectralDenoiser expects a SpectralConfig, got {type(config).__name__}")
        self.config = config
        c = config
        bins = c.n_fft // 2 + 1
        self.bins = bins
        window = torch.hann_window(c.n_fft, periodic=True)
        self.register_buffer("window", window, persistent=False)
        self._norm = math.sqrt(float(window.pow(2).sum()))
        maps = 3 + (1 if c.uses_prior or c.uses_corpus_prior else 0) + (4 if c.phase_features else 0)
        maps += 3 if c.self_conditioning else 0
        features = maps * bins + (c.mel_bins or 0)
        self.input_proj = nn.Conv1d(features, c.channels, 1)
        self.noise_embedding = NoiseLevelEmbedding(c.embedding_dim, c.mlp_dim)
        self.class_embedding = ClassEmbedding(c.num_classes, c.mlp_dim) if c.num_classes is not None else None
        self.blocks = nn.ModuleList(ConvNeXtBlock(c.channels, c.kernel_size, c.expansion, c.mlp_dim) for _ in range(c.blocks))
        self.out_norm = ChannelNorm(c.channels)
        self.output_proj = nn.Conv1d(c.channels, 2 * bins * (c.taps + 1), 1)
        nn.init.zeros_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)
        # mel frame j is centred on sample j * hop + offset (HiFi-GAN framing when unknown)
        self._mel_offset = c.hop / 2
        if c.mel_config is not None:
            from ..audio.mel_config import MelConfig

            self._mel_cfg = MelConfig.from_dict(c.mel_config)
            self._mel_offset = self._mel_cfg.n_fft / 2 - self._mel_cfg.pad
        self.magnitude = None
        self.frequency = None
        if c.frequency_layers:
            harmonics = len(HARMONIC_RATIOS) if c.harmonic_features else 0
            stack = 2 + c.frequency_reads_stack if c.frequency_reads_stack else 0
            stack += 1 if c.harmonic_templates else 0
            self.frequency = FrequencyNet(maps + harmonics + stack, c.frequency_channels, c.frequency_layers,
                                          c.mlp_dim, c.frequency_dilation)
        # per-bin maps of the frame stack for the time-frequency branch (default init: they
        # carry features from the first step, where the zero-initialised correction is 0)
        self.stack_maps = (nn.Conv1d(c.channels, c.frequency_reads_stack * bins, 1)
                           if c.frequency_reads_stack else None)
        # the frame stack chooses a fundamental per frame; the branch reads its comb
        self.templates = HarmonicTemplates(bins) if c.harmonic_templates else None
        self.pitch_logits = (nn.Conv1d(c.channels, self.templates.candidates + 1, 1)
                             if self.templates is not None else None)
        if self.pitch_logits is not None:
            nn.init.zeros_(self.pitch_logits.weight)
            nn.init.zeros_(self.pitch_logits.bias)
        self.harmonic_stack = HarmonicStack(bins) if c.harmonic_features else None
        self.phase_coherence = PhaseCoherence(bins, c.stft_hop, c.n_fft) if c.phase_features else None
        if c.uses_prior:
            self._init_prior()
            if c.prior == "learned":
                self.magnitude = MagnitudeNet(c.mel_bins, self._mel_cfg.n_fft // 2 + 1, c.magnitude_channels,
                                               c.magnitude_blocks)
        if c.uses_corpus_prior:
            # unit power until fit_corpus_prior: an unfitted network is the prior="none" one
            groups = c.num_classes + 1 if c.num_classes is not None else 1
            mixture = (c.prior_components,) if c.prior_components > 1 else ()
            self.register_buffer("corpus_power", torch.ones((groups,) + mixture + (bins, c.prior_frames)))
            if mixture:
                self.register_buffer("corpus_log_weight",
                                     torch.full((groups, c.prior_components), -math.log(c.prior_components)))
        self.fast_inference = False  # no fused path: the frame-rate stack is already cheap

    @staticmethod
    def _cover(power: Tensor) -> Tensor:
        """The power the corrections are scaled by: the largest prior power nearby, times
        ``_PRIOR_GAIN``. The mel smooths harmonics over its bands and 64 ms frames, so the
        least-squares power misses peaks by up to the band width; where the Wiener mean then
        discards real signal at high SNR, the correction must be able to restore it with an
        output of order 1 (the v / eps losses magnify that error by 1 / sigma^2)."""
        return F.max_pool2d(power.unsqueeze(1), (2 * _SPREAD_BINS + 1, 2 * _SPREAD_FRAMES + 1), stride=1,
                            padding=(_SPREAD_BINS, _SPREAD_FRAMES)).squeeze(1) * _PRIOR_GAIN

    # ------------------------------------------------------------------ properties
    @property
    def self_conditioning(self) -> bool:
        """Whether the network reads an earlier estimate of ``x_0`` (``self_cond``)."""
        return self.config.self_conditioning

    @property
    def receptive_field(self) -> int:
        """Samples of ``x_t`` that one output sample can depend on (frames of context,
        times the hop, plus one frame on each side)."""
        c = self.config
        frames = 1 + c.blocks * (c.kernel_size - 1) + (c.taps - 1)
        if c.frequency_layers:  # side by side: the wider of the two; in series: the sum
            branch = (c.frequency_layers + 1) * (FREQUENCY_KERNEL[1] - 1)
            serial = c.frequency_reads_stack or c.harmonic_templates
            frames = frames + branch if serial else max(frames, 1 + branch)
        if c.phase_features:  # the inputs already read one frame either side
            frames += 2
        field = (frames - 1) * c.stft_hop + 2 * c.n_fft
        if c.uses_prior:
            # each projection iteration spreads a change by a frame either side; the learned
            # prior reads mel frames around each one (counted here so chunked vocoding covers it)
            field += 2 * c.projection_iterations * self._mel_cfg.n_fft
            if c.prior == "learned":
                field += 2 * c.magnitude_blocks * (MAGNITUDE_KERNEL // 2) * c.hop
        return field

    def macs_per_sample(self) -> float:
        """Multiply-accumulates of the convolutions per audio sample (FFTs and the prior's
        elementwise posterior not counted)."""
        c = self.config
        per_frame = self.input_proj.in_channels * c.channels
        per_frame += c.blocks * (c.kernel_size * c.channels + 2 * c.expansion * c.channels * c.channels)
        per_frame += c.channels * self.output_proj.out_channels
        if self.stack_maps is not None:
            per_frame += c.channels * self.stack_maps.out_channels
        if self.templates is not None:
            per_frame += (c.channels + self.bins) * self.pitch_logits.out_channels
        if self.frequency is not None:
            taps, f = FREQUENCY_KERNEL[0] * FREQUENCY_KERNEL[1], c.frequency_channels
            per_bin = taps * f * (self.frequency.input.in_channels + c.frequency_layers * f) + 4 * f
            per_frame += per_bin * self.bins
        macs = per_frame / c.stft_hop
        if self.magnitude is not None:
            m = c.magnitude_channels
            per_mel_frame = self.magnitude.input_proj.in_channels * m + m * self.magnitude.output_proj.out_channels
            per_mel_frame += c.magnitude_blocks * (MAGNITUDE_KERNEL * m + 2 * MAGNITUDE_EXPANSION * m * m)
            macs += per_mel_frame / c.hop
        return macs

    # ------------------------------------------------------------------ conditioning
    def condition(self, mel: Tensor | None = None, class_label: Tensor | int | None = None,
                  prior_component: Tensor | None = None) -> Conditioning:
        """Precompute what does not depend on ``x_t``: the normalised mel features at mel frame
        rate ``(B, mel_bins, F)``, the prior power ``(B, bins, F)`` and the class embedding.
        ``prior_component`` ``(B,)`` (a mixture prior only) pins each example's prior to one of
        its class's components (``-1``: the mixture's posterior, as without it)."""
        c = self.config
        features, frames, prior, magnitude = None, None, None, None
        if c.mel_bins is None:
            if mel is not None:
                raise ValueError("this denoiser is not mel-conditioned (mel_bins=None) but a mel was given")
        else:
            if not isinstance(mel, Tensor) or mel.dim() != 3 or mel.shape[1] != c.mel_bins or mel.shape[-1] < 1:
                shape = tuple(mel.shape) if isinstance(mel, Tensor) else None
                raise ValueError(f"this denoiser is mel-conditioned: expected mel of shape (B, {c.mel_bins}, frames), "
                                 f"got {shape}")
            mel = mel.to(self.input_proj.weight.device, torch.float32)
            frames = mel.shape[-1]
            features = (mel - c.mel_offset) / c.mel_scale
            if c.uses_prior:
                magnitude = self.prior_magnitude(mel)
                prior = self.power_map @ magnitude.square()
        class_embedding = self._embed_class(class_label, mel.shape[0] if features is not None else None)
        log_weight = None
        if c.uses_corpus_prior:
            prior, log_weight = self._corpus_prior(class_label, prior_component)
        elif prior_component is not None:
            raise ValueError("prior_component picks a component of a mixture prior; this network has "
                             f"prior={c.prior!r}: drop prior_component")
        return Conditioning(mel_features=features, frames=frames, hop=c.hop if features is not None else None,
                            class_embedding=class_embedding, prior_power=prior,
                            prior_magnitude=magnitude if c.projection_iterations else None,
                            prior_log_weight=log_weight)

    def _to_frames(self, values: Tensor, frames: int) -> Tensor:
        """Mel-rate values ``(B, D, F)`` linearly interpolated at the network's frame centres."""
        c = self.config
        centres = torch.arange(frames, device=values.device, dtype=torch.float32) * c.stft_hop
        position = ((centres - self._mel_offset) / c.hop).clamp(0, values.shape[-1] - 1)
        lo = position.floor().long().clamp(max=max(values.shape[-1] - 2, 0))
        hi = (lo + 1).clamp(max=values.shape[-1] - 1)
        frac = (position - lo).to(values.dtype)
        return values[..., lo] * (1 - frac) + values[..., hi] * frac

    # ------------------------------------------------------------------ forward
    def forward(self, x_t: Tensor, logsnr: Tensor | float, mel: Tensor | None = None,
                class_label: Tensor | int | None = None, cond: Conditioning | None = None,
                self_cond: Tensor | None = None, prior_component: Tensor | None = None) -> Tensor:
        c = self.config
        if self_cond is not None and not c.self_conditioning:
            raise ValueError("self_cond given, but this network has self_conditioning=False")
        if not isinstance(x_t, Tensor) or x_t.dim() != 3 or x_t.shape[1] != 1 or x_t.shape[-1] < 1:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"expected x_t of shape (B, 1, T) with T >= 1, got {shape}")
        batch, _, length = x_t.shape
        if not isinstance(logsnr, Tensor):
            logsnr = torch.tensor(float(logsnr), device=x_t.device)
        logsnr = logsnr.to(device=x_t.device, dtype=torch.float32)
        if logsnr.dim() == 0:
            logsnr = logsnr.expand(batch)
        if logsnr.shape != (batch,):
            raise ValueError(f"expected logsnr of shape ({batch},), got {tuple(logsnr.shape)}")
        if cond is None:
            cond = self.condition(mel=mel, class_label=class_label, prior_component=prior_component)
        elif mel is not None or class_label is not None or prior_component is not None:
            raise ValueError("pass either cond=... or mel/class_label/prior_component, not both")
        if cond.mel_features is not None:
            check_frame_count(cond.frames, length, c.hop)
            if cond.mel_features.shape[0] != batch:
                raise ValueError(f"mel has batch size {cond.mel_features.shape[0]} but x_t has batch size {batch}")

        dtype = x_t.dtype
        spec = self._normalised_stft(x_t)
        frames = spec.shape[-1]
        alpha2 = torch.sigmoid(logsnr)[:, None, None]
        sigma2 = torch.sigmoid(-logsnr)[:, None, None]
        wiener, cover = self._prior_terms(cond, spec, alpha2, sigma2)
        total = alpha2 * cover + sigma2
        unit = spec * total.rsqrt()                          # about unit-variance input at every noise level
        posterior_std = (cover * sigma2 / total).sqrt()      # std of X0 given X: the scale of corrections
        parts = [unit.real, unit.imag, torch.log(unit.real.square() + unit.imag.square() + 1e-4) * 0.25]
        if cond.prior_power is not None:
            parts.append(torch.log(alpha2 * cover / sigma2) * 0.125)
        if self.phase_coherence is not None:
            parts.extend(self.phase_coherence(unit))
        if c.self_conditioning:
            parts.extend(self._self_condition_maps(self_cond, x_t.shape, cover, frames))
        maps = len(parts)  # per-bin maps; the frequency branch reads these
        if cond.mel_features is not None:
            parts.append(self._to_frames(cond.mel_features, frames))
        h = self.input_proj(torch.cat(parts, dim=1))
        embedding = self.noise_embedding(logsnr)
        if cond.class_embedding is not None:
            embedding = embedding + cond.class_embedding.to(embedding.dtype)
        for block in self.blocks:
            h = block(h, embedding)
        top = F.gelu(self.out_norm(h))
        out = self.output_proj(top)
        pieces = out.chunk(2 * (c.taps + 1), dim=1)
        correction = torch.complex(pieces[0], pieces[1])
        half = c.taps // 2
        padded = F.pad(unit, (half, half)) if half else unit
        for j in range(c.taps):
            correction = correction + torch.complex(pieces[2 + 2 * j], pieces[3 + 2 * j]) * padded[..., j : j + frames]
        if self.frequency is not None:
            inputs = parts[:maps]
            if self.harmonic_stack is not None:  # of the log magnitude
                inputs = inputs + self.harmonic_stack(parts[2])
            if self.stack_maps is not None:
                hidden = self.stack_maps(top).unflatten(1, (c.frequency_reads_stack, self.bins))
                inputs = inputs + [correction.real, correction.imag] + list(hidden.unbind(1))
            if self.templates is not None:
                inputs = inputs + [self.templates(self.pitch_logits(top))]
            local = self.frequency(torch.stack(inputs, dim=1), embedding)
            correction = correction + torch.complex(local[:, 0], local[:, 1])
            correction = correction + torch.complex(local[:, 2], local[:, 3]) * unit
        estimate = wiener * spec + posterior_std * correction
        x0_hat = torch.istft(estimate * self._norm, c.n_fft, c.stft_hop, window=self.window, center=True,
                             length=length)
        if c.projection_iterations and cond.prior_magnitude is not None and not self.training:
            x0_hat = self._project(x0_hat, cond.prior_magnitude, c.projection_iterations)
        return self._from_x0(x0_hat[:, None], x_t.float(), logsnr).to(dtype)

    def _prior_terms(self, cond: Conditioning, spec: Tensor, alpha2: Tensor, sigma2: Tensor) -> tuple[Tensor, Tensor]:
        """The prior's Wiener gain (``E[X0 | X] = wiener * X``) and the power that scales the
        inputs and corrections (its cover), each ``(B, bins, F)`` or broadcastable to it, for the
        normalised STFT ``spec`` ``(B, bins, F)`` of ``x_t`` at signal and noise variances
        ``alpha2``, ``sigma2`` ``(B, 1, 1)``. The prior power of ``x_0`` per bin is the mel's or
        the corpus's where there is a prior, else 1 (unit-variance data); for a mixture, the gain
        and power are the posterior's over its components."""
        c = self.config
        frames = spec.shape[-1]
        if cond.prior_log_weight is not None:
            return self._mixture_terms(cond, spec, alpha2, sigma2)
        if cond.prior_power is not None and c.uses_corpus_prior:
            power = _frames_repeating_last(cond.prior_power, frames).clamp_min(_POWER_FLOOR)
            cover = _frames_repeating_last(self._cover(cond.prior_power), frames).clamp_min(_POWER_FLOOR)
        elif cond.prior_power is not None:
            power = self._to_frames(cond.prior_power, frames).clamp_min(_POWER_FLOOR)
            cover = self._to_frames(self._cover(cond.prior_power), frames).clamp_min(_POWER_FLOOR)
        else:
            power = cover = torch.ones(1, 1, 1, device=spec.device)
        return _wiener_gain(power, alpha2, sigma2), cover

    def _normalised_stft(self, signal: Tensor) -> Tensor:
        """``STFT(signal) / sqrt(sum w^2)`` of ``(B, 1, T)`` in float32, ``(B, bins, frames)``
        complex: unit-variance white noise has unit-variance coefficients."""
        c = self.config
        return torch.stft(signal[:, 0].float(), c.n_fft, c.stft_hop, window=self.window, center=True,
                          return_complex=True) / self._norm

    def _mixture_terms(self, cond: Conditioning, spec: Tensor, alpha2: Tensor,
                       sigma2: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`_prior_terms` of a mixture prior. A row with one finite weight (a pinned
        component, or a class with one note) is that component's Wiener gain, computed alone;
        only the other rows pay for the posterior over all ``K`` components."""
        c = self.config
        batch, frames = spec.shape[0], spec.shape[-1]
        weight = cond.prior_log_weight.expand(batch, -1)
        prior = cond.prior_power.expand((batch,) + cond.prior_power.shape[1:])
        rows = torch.arange(batch, device=weight.device)
        power = _frames_repeating_last(prior[rows, weight.argmax(1)], frames).clamp_min(_POWER_FLOOR)
        alpha2, sigma2 = alpha2.expand(batch, 1, 1), sigma2.expand(batch, 1, 1)
        wiener = _wiener_gain(power, alpha2, sigma2)
        mixed = (torch.isfinite(weight).sum(1) != 1).nonzero().squeeze(1)
        if len(mixed):
            components = _frames_repeating_last(prior[mixed], frames).clamp_min(_POWER_FLOOR)
            mixed_wiener, mixed_power = mixture_posterior(spec[mixed], alpha2[mixed], sigma2[mixed], components,
                                                          weight[mixed], c.stft_hop / c.n_fft)
            wiener = wiener.index_copy(0, mixed, mixed_wiener.to(wiener.dtype))
            power = power.index_copy(0, mixed, mixed_power.to(power.dtype))
        return wiener, self._cover(power).clamp_min(_POWER_FLOOR)

    def _self_condition_maps(self, self_cond: Tensor | None, shape: torch.Size, cover: Tensor,
                             frames: int) -> list[Tensor]:
        """The earlier ``x_0`` estimate ``(B, 1, T)`` as three ``(B, bins, F)`` maps: real and
        imaginary parts of its STFT over the prior's standard deviation ``z``, scaled by
        ``1 / sqrt(1 + |z|^2)``, and ``log |z|^2`` (the input scaling of ``x_t``'s maps); without
        one, those of a silent estimate."""
        c = self.config
        if self_cond is None:
            self_cond = torch.zeros(shape, device=cover.device)
        if tuple(self_cond.shape) != tuple(shape):
            raise ValueError(f"self_cond must have the shape of x_t {tuple(shape)}, got {tuple(self_cond.shape)}")
        scaled = self._normalised_stft(self_cond) * cover.rsqrt()
        power = scaled.real.square() + scaled.imag.square()
        # bounded: where the prior is silent, an estimate's small error is many prior std
        bounded = scaled * (1 + power).rsqrt()
        return [bounded.real, bounded.imag, torch.log(power + 1e-4) * 0.25]

    def _from_x0(self, x0_hat: Tensor, x_t: Tensor, logsnr: Tensor) -> Tensor:
        kind = self.config.parameterisation
        if kind == "x0":
            return x0_hat
        alpha = torch.sigmoid(logsnr).sqrt()[:, None, None]
        sigma = torch.sigmoid(-logsnr).sqrt()[:, None, None]
        eps_hat = (x_t - alpha * x0_hat) / sigma
        return eps_hat if kind == "eps" else alpha * eps_hat - sigma * x0_hat

    def extra_repr(self) -> str:
        c = self.config
        return (f"n_fft={c.n_fft}, stft_hop={c.stft_hop}, channels={c.channels}, blocks={c.blocks}, "
                f"taps={c.taps}, frequency_layers={c.frequency_layers}, "
                f"prior={c.prior if c.uses_prior or c.uses_corpus_prior else 'none'}, "
                f"projection_iterations={c.projection_iterations}, mel_bins={c.mel_bins}, "
                f"num_classes={c.num_classes}, receptive_field={self.receptive_field}")
