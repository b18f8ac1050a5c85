"""The spectral denoiser's priors, as methods of :class:`~wavediff.nn.spectral.SpectralDenoiser`.

* :class:`MelPrior`: the power a mel implies for each STFT bin of ``x_0`` (non-negative least
  squares through the filter bank, or the learned prior's magnitude network), its regression
  loss, the Griffin-Lim projection onto it and the prior-only waveform;
* :class:`CorpusPrior`: the ``corpus`` prior fitted from clean training segments (per class, a
  mean power or a mixture of them), and a mixture's components: which one a clean segment
  belongs to, drawing one from a class's weights, pinning an example's prior to one.

Mixins: they use the denoiser's ``config``, STFT ``window`` and normalisation ``_norm``, mel
configuration ``_mel_cfg`` and buffers; the maths of the corpus prior is in
:mod:`wavediff.nn.corpus_prior`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .corpus_prior import component_posterior, fit_class_powers

__all__ = ["POWER_FLOOR", "CorpusPrior", "MelPrior", "frames_repeating_last"]

_NNLS_ITERATIONS = 10
# power floor of the prior (normalised units): keeps the Wiener gain and the input scaling finite in silence
POWER_FLOOR = 1e-8
# far below any audible bin, so an untrained learned prior equals the least-squares one
_MAGNITUDE_EPS = 1e-8
# the regression target's floor (raw units; quieter bins are all "silence" to a listener)
_TARGET_FLOOR = 1e-5
# k-means runs of the "spectrum" clustering (the least inertia is kept): one run from a poor
# seeding can put two notes' spectra in one group
_SPECTRUM_RESTARTS = 10
# momentum of the fast Griffin-Lim projection (Perraudin et al., 2013; librosa's default)
_PROJECTION_MOMENTUM = 0.99


def frames_repeating_last(values: Tensor, frames: int) -> Tensor:
    """The first ``frames`` frames of ``(..., F)``, the last one repeated past ``F``."""
    index = torch.arange(frames, device=values.device).clamp(max=values.shape[-1] - 1)
    return values[..., index]


class MelPrior:
    """The mel-implied (``prior="wiener"``) and learned (``"learned"``) prior of a mel-conditioned
    spectral denoiser."""

    def _init_prior(self) -> None:
        from ..audio.mel import mel_filters  # audio front-end: filter bank and window

        mel_cfg = self._mel_cfg
        mel_window, fbank = mel_filters(mel_cfg)
        self.register_buffer("fbank", fbank.float(), persistent=False)
        self.register_buffer("fbank_pinv", torch.linalg.pinv(fbank).float(), persistent=False)
        # mel units -> the raw STFT magnitude of x_0 (the mel's framing) per mel STFT bin: undo
        # the mel's normalisation, then the data transform (scale, pre-emphasis |1 - c e^{-iw}|)
        mel_freqs = torch.linspace(0, mel_cfg.sample_rate / 2, mel_cfg.n_fft // 2 + 1)
        pre = self.config.pre_emphasis
        omega = mel_freqs / mel_cfg.sample_rate * 2 * math.pi
        emphasis = (1 - 2 * pre * torch.cos(omega) + pre * pre).sqrt()
        gain = self.config.data_scale * emphasis * mel_cfg.stft_scale()
        self.register_buffer("x0_gain", gain[:, None].float(), persistent=False)
        # raw power of the mel's STFT bins -> power of this network's normalised bins: a
        # stationary signal's E|STFT|^2 is its spectral density times sum(w^2)
        net_freqs = torch.linspace(0, mel_cfg.sample_rate / 2, self.bins)
        position = (net_freqs / (mel_cfg.sample_rate / 2) * (mel_cfg.n_fft // 2)).clamp(0, mel_cfg.n_fft // 2)
        lo = position.floor().long().clamp(max=mel_cfg.n_fft // 2 - 1)
        frac = position - lo
        interp = torch.zeros(self.bins, mel_cfg.n_fft // 2 + 1)
        interp[torch.arange(self.bins), lo] = 1 - frac
        interp[torch.arange(self.bins), lo + 1] += frac
        self.register_buffer("power_map", (interp / float(mel_window.pow(2).sum())).float(), persistent=False)

    def _least_squares_magnitude(self, mel: Tensor) -> Tensor:
        """The STFT magnitude of ``x_0`` (mel framing, raw units) whose mel is ``mel``, by
        non-negative least squares through the filter bank: ``(B, mel_bins, F) -> (B, n_fft//2+1, F)``."""
        from ..audio.griffin_lim import least_squares_inversion
        from ..audio.mel import decompress_mel

        linear = decompress_mel(mel.float(), self._mel_cfg)
        mag = least_squares_inversion(linear, self.fbank, self.fbank_pinv, _NNLS_ITERATIONS)
        if self._mel_cfg.power != 1.0:
            mag = mag.sqrt()
        return mag * self.x0_gain

    def _learned_log_magnitude(self, mel: Tensor) -> Tensor:
        """The learned prior's log magnitude (mel framing, raw units of ``x_0``), with gradients."""
        c = self.config
        base = (self._least_squares_magnitude(mel) + _MAGNITUDE_EPS).log()
        return self.magnitude((mel - c.mel_offset) / c.mel_scale, base)

    def prior_magnitude(self, mel: Tensor) -> Tensor:
        """The prior's STFT magnitude of ``x_0`` with the mel's own framing (raw units):
        ``(B, mel_bins, F) -> (B, mel n_fft // 2 + 1, F)``; learned for ``prior="learned"``
        (without gradients: the prior learns through :meth:`auxiliary_loss` only)."""
        if self.magnitude is None:
            return self._least_squares_magnitude(mel)
        with torch.no_grad():
            return self._learned_log_magnitude(mel).exp()

    def prior_power(self, mel: Tensor) -> Tensor:
        """Power per network bin that the mel features imply: ``(B, mel_bins, F) -> (B, bins, F)``."""
        return self.power_map @ self.prior_magnitude(mel).square()

    def auxiliary_loss(self, x0: Tensor, mel: Tensor) -> Tensor | None:
        """Regression loss of the learned prior (``prior="learned"``), else None.

        ``x0``: clean training data ``(B, 1, T)`` in the units the network denoises (after the
        data transform); ``mel``: its mel features ``(B, mel_bins, F)``. The target is the STFT
        magnitude of ``x0`` with the mel's framing; the loss is the mean absolute error of the
        log magnitude plus the spectral convergence ``||M_hat - |X0| ||_F / || |X0| ||_F`` (the
        first fits quiet bins, the second the loud ones, which is what a listener hears). The
        training module adds it to the diffusion loss; the diffusion loss never reaches the
        prior (its magnitude is computed without gradients there), so the prior stays a
        regression on the data whatever the noise level."""
        if self.magnitude is None:
            return None
        from ..audio.griffin_lim import MelFraming

        log_magnitude = self._learned_log_magnitude(mel.float())
        framing = MelFraming(self._mel_cfg, log_magnitude.shape[-1], x0.shape[-1], x0.device)
        target = framing.to_spec(x0[:, 0].float()).abs()
        log_error = (log_magnitude - torch.log(target + _TARGET_FLOOR)).abs().mean()
        magnitude = log_magnitude.exp()
        convergence = (magnitude - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1).clamp_min(1e-8)
        return log_error + convergence.mean()

    def _project(self, x0_hat: Tensor, magnitude: Tensor, iterations: int) -> Tensor:
        """Fast Griffin-Lim (momentum 0.99) from the phase of ``x0_hat`` ``(B, T)`` onto the
        prior's ``magnitude`` ``(B, bins, F)`` (the mel's framing): a waveform whose STFT
        magnitude is about the prior's and whose phase starts from the network's."""
        from ..audio.griffin_lim import MelFraming

        framing = MelFraming(self._mel_cfg, magnitude.shape[-1], x0_hat.shape[-1], x0_hat.device)
        phase_source, previous = framing.to_spec(x0_hat), None
        for _ in range(iterations):
            spec = framing.to_spec(framing.to_audio(magnitude * torch.exp(1j * torch.angle(phase_source))))
            phase_source = spec if previous is None else spec + _PROJECTION_MOMENTUM * (spec - previous)
            previous = spec
        return framing.to_audio(magnitude * torch.exp(1j * torch.angle(phase_source)))

    @torch.no_grad()
    def prior_waveform(self, mel: Tensor, length: int, iterations: int = 64, seed: int = 0) -> Tensor:
        """Griffin-Lim on the prior's magnitude from random phases, no denoiser: what the
        prior alone gives (a baseline for the trained network). ``(B, mel_bins, F) ->
        (B, 1, length)`` in ``x_0`` units (divide by the data transform for audio)."""
        from ..audio.griffin_lim import griffin_lim_magnitude

        if not self.config.uses_prior:
            raise ValueError("prior_waveform needs a mel-conditioned network with a prior (prior='wiener' or 'learned')")
        magnitude = self.prior_magnitude(mel.to(self.fbank.device, torch.float32))
        return griffin_lim_magnitude(magnitude, self._mel_cfg, length=length, iterations=iterations,
                                     seed=seed)[:, None]


class CorpusPrior:
    """The ``corpus`` prior of a spectral denoiser without a mel, and its mixture's components."""

    @torch.no_grad()
    def fit_corpus_prior(self, x0: Tensor, labels: Tensor | None = None) -> Tensor:
        """Set the ``corpus`` prior from clean training segments: their mean power in every
        bin and frame of this network's STFT, ``x0 (N, 1, T)`` in the units the network
        denoises (after the data transform), ``T`` the training segment's length.

        With ``labels`` (N,) (a class-conditioned network) each class gets the mean of its
        own segments and the null class (index ``num_classes``, the unconditional branch of
        guidance) the mean of all; a class without segments gets that too. Frames past
        ``prior_frames`` are dropped (or, when there are fewer, the last is repeated). With
        ``prior_components > 1`` each of them is a mixture instead (see
        :func:`~wavediff.nn.corpus_prior.fit_class_powers`).
        Returns the fitted ``(groups, [components,] bins, prior_frames)`` power."""
        c = self.config
        if not c.uses_corpus_prior:
            raise ValueError(f"fit_corpus_prior sets the prior='corpus' power; this network has prior={c.prior!r}")
        if x0.dim() != 3 or x0.shape[1] != 1 or x0.shape[0] < 1:
            raise ValueError(f"expected clean segments of shape (N, 1, T), got {tuple(x0.shape)}")
        device = self.corpus_power.device
        if labels is not None:
            if c.num_classes is None:
                raise ValueError("labels given, but this network is not class-conditioned")
            labels = torch.as_tensor(labels, device=device).long()
            if labels.shape != (x0.shape[0],) or labels.min() < 0 or labels.max() >= c.num_classes:
                raise ValueError(f"labels must have shape ({x0.shape[0]},) with values in 0..{c.num_classes - 1}")
        elif c.num_classes is not None:
            raise ValueError("this network is class-conditioned: fit_corpus_prior needs the segments' labels")
        powers = []
        for start in range(0, x0.shape[0], 64):
            spec = self._normalised_stft(x0[start:start + 64].to(device, torch.float32))
            powers.append(frames_repeating_last(spec.abs().square(), c.prior_frames))
        power = torch.cat(powers)
        fitted, log_weight = fit_class_powers(power, labels, self.corpus_power.shape[0] - 1, c.prior_components,
                                              c.prior_smoothing, features=c.prior_clustering,
                                              restarts=_SPECTRUM_RESTARTS if c.prior_clustering == "spectrum" else 1)
        self.corpus_power.copy_(fitted.float())
        if c.prior_components > 1:
            self.corpus_log_weight.copy_(log_weight.float())
        return self.corpus_power.clone()

    def _corpus_prior(self, class_label: Tensor | int | None,
                      component: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``(B, bins, prior_frames)`` corpus power for each label (``(1, ...)`` without classes)
        and ``None``; for a mixture, ``(B, K, bins, prior_frames)`` and the log weights ``(B, K)``,
        each row with ``component >= 0`` pinned to that component (its other weights ``-inf``)."""
        weight = getattr(self, "corpus_log_weight", None)
        if self.config.num_classes is None:
            power = self.corpus_power
        else:
            labels = torch.as_tensor(class_label, device=self.corpus_power.device).long().reshape(-1)
            power, weight = self.corpus_power[labels], None if weight is None else weight[labels]
        if component is None:
            return power, weight
        if weight is None:
            raise ValueError("prior_component picks a component of a mixture prior; this network has "
                             f"prior_components={self.config.prior_components}: drop prior_component")
        k = weight.shape[-1]
        component = torch.as_tensor(component, device=weight.device).long().reshape(-1)
        if component.numel() and (component.min() < -1 or component.max() >= k):
            raise ValueError(f"prior_component must be in -1..{k - 1} (-1: the mixture's posterior), "
                             f"got values in {int(component.min())}..{int(component.max())}")
        rows = max(weight.shape[0], component.shape[0])
        if weight.shape[0] not in (1, rows) or component.shape[0] not in (1, rows):
            raise ValueError(f"prior_component has {component.shape[0]} entries for {weight.shape[0]} labels")
        power, weight = power.expand((rows,) + power.shape[1:]), weight.expand(rows, k)
        component = component.expand(rows)
        one_hot = torch.full_like(weight, -math.inf).scatter(1, component.clamp_min(0)[:, None], 0.0)
        return power, torch.where((component >= 0)[:, None], one_hot, weight)

    def corpus_component(self, x0: Tensor, class_label: Tensor | int | None = None) -> Tensor:
        """The mixture component ``(B,)`` each clean segment ``x0`` ``(B, 1, T)`` (the units the
        network denoises) belongs to under its class's prior: the most probable one given the
        clean STFT (the component posterior at ``sigma -> 0``). What a training step pins when
        :attr:`SpectralConfig.pin_components` is set."""
        c = self.config
        power, weight = self._corpus_prior(class_label)
        if weight is None:
            raise ValueError("corpus_component needs a mixture prior (prior='corpus', prior_components > 1)")
        spec = self._normalised_stft(x0)
        components = frames_repeating_last(power, spec.shape[-1]).clamp_min(POWER_FLOOR)
        one, tiny = torch.ones(1, 1, 1, device=spec.device), torch.full((1, 1, 1), 1e-6, device=spec.device)
        posterior = component_posterior(spec, one, tiny, components.expand(spec.shape[0], -1, -1, -1),
                                        weight.expand(spec.shape[0], -1), c.stft_hop / c.n_fft)
        return posterior.argmax(1)

    def draw_component(self, class_label: Tensor | int | None, batch: int | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
        """Draw one mixture component per example ``(B,)`` from its class's weights (the share
        of that class's training segments in each component); ``batch`` when there are no
        classes. The sampling side of :attr:`SpectralConfig.pin_components`."""
        _, weight = self._corpus_prior(class_label)
        if weight is None:
            raise ValueError("draw_component needs a mixture prior (prior='corpus', prior_components > 1)")
        if batch is not None:
            weight = weight.expand(batch, -1)
        # drawn where the generator lives (a CUDA generator cannot draw from CPU probabilities)
        probs = weight.double().exp().to(generator.device if generator is not None else weight.device)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(weight.device)
