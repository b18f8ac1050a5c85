"""Configuration of the DiffWave-family denoiser and its named presets.

A :class:`DenoiserConfig` fully determines the architecture (and therefore the parameter
shapes) of a :class:`~wavediff.nn.DiffWave` network; it is what checkpoints store, as the
plain dictionary returned by :meth:`DenoiserConfig.to_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["DenoiserConfig", "NOISE_EMBEDDINGS", "NetworkConfig", "PRESETS", "SpectralConfig",
           "network_config_from_dict"]

#: Ways of embedding the noise level (``DenoiserConfig.noise_embedding``).
NOISE_EMBEDDINGS: tuple[str, ...] = ("fourier", "diffwave_step")


def _check_int(name: str, value: Any, minimum: int, owner: str = "DenoiserConfig") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}.{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture of a DiffWave-family denoiser.

    Attributes:
        residual_layers: number N of residual layers.
        residual_channels: width C of the residual stream.
        dilation_cycle: layer ``i`` uses dilation ``2 ** (i % dilation_cycle)``.
        kernel_size: kernel size of the dilated convolutions ("same" padding; for even
            sizes the extra sample of padding goes on the right).
        embedding_dim: number of Fourier features of ``logsnr`` (even).
        mlp_dim: width of the noise-level MLP; the class embedding has this width too.
        mel_bins: number of mel bins of the conditioning spectrogram; ``None`` means the
            network is not mel-conditioned.
        hop: audio samples per mel frame (used only when ``mel_bins`` is set).
        num_classes: number of classes for class conditioning; ``None`` means no class
            conditioning. Index ``num_classes`` is reserved as the null class (for
            classifier-free guidance), so the embedding table has ``num_classes + 1`` rows.
        mel_offset, mel_scale: the network sees ``(mel - mel_offset) / mel_scale``: a fixed
            affine map chosen from the MelConfig so that log-mel values of any convention
            land in about [-1, 1] (raw natural-log mels reach -11.5 and would saturate the
            gates); see ``wavediff.audio.mel.nominal_range``.
        upsample_factors: integer factors of ``hop`` used by the mel upsampler stages
            (their product must equal ``hop``); ``None`` chooses them automatically.
        in_channels: channels of ``x_t`` (1 for mono audio).
        out_channels: channels of the network output (1: same shape as ``x_t``).
        noise_embedding: how ``logsnr`` is embedded: ``"fourier"`` (default: Fourier
            features of ``logsnr``, ``embedding_dim`` of them) or ``"diffwave_step"`` (the
            DiffWave reference's interpolated table of step embeddings, ``embedding_dim``
            wide, at the fractional step of ``logsnr`` under ``step_betas``; for imported
            reference checkpoints, see ``wavediff.nn.step_embedding``).
        step_betas: the training betas that define the steps of ``"diffwave_step"``
            (``None`` otherwise).
    """

    residual_layers: int = 30
    residual_channels: int = 64
    dilation_cycle: int = 10
    kernel_size: int = 3
    embedding_dim: int = 128
    mlp_dim: int = 512
    mel_bins: int | None = None
    hop: int = 256
    num_classes: int | None = None
    upsample_factors: tuple[int, ...] | None = None
    mel_offset: float = 0.0
    mel_scale: float = 1.0
    in_channels: int = 1
    out_channels: int = 1
    noise_embedding: str = "fourier"
    step_betas: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_int("residual_layers", self.residual_layers, 1)
        _check_int("residual_channels", self.residual_channels, 1)
        _check_int("dilation_cycle", self.dilation_cycle, 1)
        _check_int("kernel_size", self.kernel_size, 1)
        _check_int("embedding_dim", self.embedding_dim, 2)
        if self.embedding_dim % 2:
            raise ValueError(f"DenoiserConfig.embedding_dim must be even (sin and cos pairs), got {self.embedding_dim}")
        _check_int("mlp_dim", self.mlp_dim, 1)
        _check_int("hop", self.hop, 1)
        if not self.mel_scale > 0:
            raise ValueError(f"mel_scale must be positive, got {self.mel_scale}")
        _check_int("in_channels", self.in_channels, 1)
        _check_int("out_channels", self.out_channels, 1)
        if self.mel_bins is not None:
            _check_int("mel_bins", self.mel_bins, 1)
        if self.num_classes is not None:
            _check_int("num_classes", self.num_classes, 1)
        self._check_noise_embedding()
        if self.upsample_factors is not None:
            factors = self.upsample_factors
            if isinstance(factors, list):
                factors = tuple(factors)
                object.__setattr__(self, "upsample_factors", factors)
            if not isinstance(factors, tuple):
                raise ValueError(f"DenoiserConfig.upsample_factors must be a tuple of ints or None, got {factors!r}")
            for f in factors:
                _check_int("upsample_factors[...]", f, 2)
            product = 1
            for f in factors:
                product *= f
            if product != self.hop:
                raise ValueError(
                    f"DenoiserConfig.upsample_factors {factors} multiply to {product}, expected hop={self.hop}"
                )

    def _check_noise_embedding(self) -> None:
        if self.noise_embedding not in NOISE_EMBEDDINGS:
            raise ValueError(f"DenoiserConfig.noise_embedding must be one of {NOISE_EMBEDDINGS}, "
                             f"got {self.noise_embedding!r}")
        betas = self.step_betas
        if self.noise_embedding == "fourier":
            if betas is not None:
                raise ValueError("DenoiserConfig.step_betas is only used with noise_embedding='diffwave_step'; "
                                 "set it to None")
            return
        if betas is None or isinstance(betas, (str, bytes)) or len(betas) < 1:
            raise ValueError("noise_embedding='diffwave_step' needs step_betas: the training noise schedule "
                             "(e.g. the DiffWave reference's params.noise_schedule)")
        betas = tuple(float(b) for b in betas)
        if not all(0.0 < b < 1.0 for b in betas):
            raise ValueError(f"DenoiserConfig.step_betas must lie in (0, 1), got {list(betas)}")
        object.__setattr__(self, "step_betas", betas)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary (YAML/JSON friendly) of every field."""
        out = dataclasses.asdict(self)
        if out["upsample_factors"] is not None:
            out["upsample_factors"] = list(out["upsample_factors"])
        if out["step_betas"] is not None:
            out["step_betas"] = list(out["step_betas"])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DenoiserConfig":
        """Inverse of :meth:`to_dict`. Missing keys take their defaults; unknown keys raise.

        Raises:
            ValueError: ``data`` has keys that are not fields, or a value is invalid.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"DenoiserConfig.from_dict expects a mapping, got {type(data).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in data if k not in valid)
        if unknown:
            raise ValueError(
                f"unknown DenoiserConfig key(s): {', '.join(unknown)}; valid keys are: {', '.join(valid)}"
            )
        kwargs = dict(data)
        if kwargs.get("upsample_factors") is not None:
            kwargs["upsample_factors"] = tuple(kwargs["upsample_factors"])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "DenoiserConfig":
        """Copy with some fields changed (unknown names raise ``ValueError``)."""
        return self.from_dict({**self.to_dict(), **changes})


_PRIORS = ("wiener", "learned", "corpus", "none")
_PARAMETERISATIONS = ("x0", "eps", "v")


@dataclass(frozen=True)
class SpectralConfig:
    """Architecture of a :class:`SpectralDenoiser` (stored in checkpoints via :meth:`to_dict`).

    Attributes:
        architecture: always ``"spectral"`` (tells checkpoints which network to build).
        n_fft: STFT size of the network's frames (samples); ``n_fft // 2 + 1`` bins.
        stft_hop: samples between the network's frames.
        channels: width of the frame-rate stack.
        blocks: number of ConvNeXt blocks.
        kernel_size: depthwise kernel over frames (odd).
        expansion: width factor of each block's pointwise MLP.
        taps: complex filter taps over neighbouring frames in the output head (odd; 1 is a
            complex mask).
        embedding_dim, mlp_dim: Fourier features of ``logsnr`` and the embedding width.
        mel_bins, hop: mel channels and samples per mel frame (``mel_bins=None``: no mel).
        mel_offset, mel_scale: the network sees ``(mel - mel_offset) / mel_scale``.
        num_classes: class conditioning (``None``: none); index ``num_classes`` is the null class.
        prior: ``"wiener"`` (the mel's Gaussian posterior mean as the base estimate, with the
            per-bin power that least squares through the mel filter bank gives; needs
            ``mel_config``), ``"learned"`` (the same, with the power predicted from the mel by a
            small frame-rate network trained by regression, :meth:`SpectralDenoiser.auxiliary_loss`),
            ``"corpus"`` (no mel: the training segments' mean power per bin and frame, per class
            for a class-conditioned network, fitted once before training by
            :meth:`SpectralDenoiser.fit_corpus_prior`) or ``"none"`` (unit power).
        prior_frames: frames of the ``corpus`` prior (those of a training segment: the training
            code sets it); frames past them use the last one.
        prior_smoothing: the ``corpus`` prior is the mean power over +-this many bins (0: each
            bin's own). A class's mean over notes of many pitches holds the harmonics of all
            of them, and the Wiener mean passes every one of those lines: smoothing keeps the
            class's envelope and leaves the choice of one pitch's lines to the network.
        prior_components: the ``corpus`` prior of each class is a mixture of this many
            Gaussians (k-means of the training segments' log power, each component the mean
            power of its segments), and the base estimate is the mixture's exact posterior mean
            given ``x_t`` (:mod:`wavediff.nn.corpus_prior`): as the noise falls, the components
            that do not fit ``x_t`` (the other notes of the class) drop out. Each component
            also holds a tenth of the class mean (``corpus_prior.COMPONENT_FLOOR``). 1: the
            class mean.
        prior_clustering: what the mixture's k-means groups: ``"spectrogram"`` (the log power
            of every bin and frame, one run) or ``"spectrum"`` (the log of each segment's
            power averaged over its frames, best of 10 runs): a note's pitch is the same in
            every frame and its envelope is not, so notes of one pitch fall together.
        pin_components: train and sample each labelled example with its prior pinned to one
            component of its class's mixture instead of the mixture's posterior: in training
            the component its clean segment belongs to
            (:meth:`SpectralDenoiser.corpus_component`), in sampling one drawn from the class's
            weights (:meth:`SpectralDenoiser.draw_component`); the null class of guidance keeps
            the mixture. The pitch is then chosen once per clip, before the first step.
        magnitude_channels, magnitude_blocks: width and depth of the learned prior's network.
        frequency_layers, frequency_channels: depth and width of the time-frequency branch, 2-D
            convolutions over (bins, frames) that share their weights across frequency (0: none).
        phase_features: add each bin's phase coherence with the neighbouring frames to the
            inputs (both branches): ``X[m] conj(X[m-1])`` with the advance of a sinusoid at the
            bin's centre frequency removed, as a unit phasor, for the previous and the next
            frame. A steady partial gives the same phasor in all its frames (turning by a fixed
            step from bin to bin), noise one that changes from frame to frame; the raw
            ``Re X``, ``Im X`` of a steady partial turn by ``2 pi k hop / n_fft`` per frame,
            which a kernel shared across bins cannot undo.
        harmonic_features: give the time-frequency branch each bin's log magnitude at 1/3,
            1/2, 2 and 3 times its frequency as four more input maps (a harmonic stack): its
            kernels see a few bins, and with these they see whether a peak has the partners
            of a harmonic series or is a lone peak of the noise.
        frequency_reads_stack: run the two branches in series: the time-frequency branch also
            reads the frame stack's complex correction and this many more per-bin maps of it
            (0: the branches run side by side). The frame stack sees every bin of a frame at
            once; the branch's kernels see 7 bins, so on their own neighbouring bands can
            settle on different pitches.
        harmonic_templates: the frame stack also chooses a fundamental in every frame (a
            softmax over 24 candidates per octave, or none) and the time-frequency branch reads
            the comb of its harmonics as one more input map
            (:class:`~wavediff.nn.spectral_features.HarmonicTemplates`); the branches then run
            in series.
        frequency_dilation: layer ``i`` of the time-frequency branch dilates its kernel over
            bins by ``frequency_dilation ** i`` (1: 7 bins each): with 2 and 3 layers it spans
            +-24 bins, several harmonics of a low note, at the same cost.
        self_conditioning: the network also reads an earlier estimate of ``x_0`` (``self_cond``,
            ``(B, 1, T)``; zeros when not given): its STFT in units of the prior's standard
            deviation, as three more input maps (real, imaginary, log magnitude) of both
            branches (Chen et al., 2022, "Analog Bits"). A sampler hands each step the
            estimate of the step before, so a pitch chosen early is kept.
        projection_iterations: Griffin-Lim iterations that make each ``x0_hat`` consistent with
            the prior's magnitude at inference (never in training); 0 turns it off.
        mel_config: ``MelConfig.to_dict()`` of the conditioning mel (for the prior).
        data_scale, pre_emphasis: the recipe's audio -> ``x_0`` map (for the prior's power).
        parameterisation: what ``forward`` returns: ``x0``, ``eps`` or ``v``.
    """

    architecture: str = "spectral"
    n_fft: int = 512
    stft_hop: int = 128
    channels: int = 256
    blocks: int = 8
    kernel_size: int = 7
    expansion: int = 3
    taps: int = 1
    embedding_dim: int = 64
    mlp_dim: int = 256
    mel_bins: int | None = None
    hop: int = 256
    mel_offset: float = 0.0
    mel_scale: float = 1.0
    num_classes: int | None = None
    prior: str = "wiener"
    prior_frames: int = 1
    prior_smoothing: int = 0
    prior_components: int = 1
    prior_clustering: str = "spectrogram"
    pin_components: bool = False
    magnitude_channels: int = 256
    magnitude_blocks: int = 6
    frequency_layers: int = 0
    frequency_channels: int = 16
    phase_features: bool = False
    harmonic_features: bool = False
    frequency_reads_stack: int = 0
    frequency_dilation: int = 1
    harmonic_templates: bool = False
    self_conditioning: bool = False
    projection_iterations: int = 0
    mel_config: dict[str, Any] | None = None
    data_scale: float = 1.0
    pre_emphasis: float = 0.0
    parameterisation: str = "x0"
    in_channels: int = 1
    out_channels: int = 1

    def __post_init__(self) -> None:
        if self.architecture != "spectral":
            raise ValueError(f"SpectralConfig.architecture must be 'spectral', got {self.architecture!r}")
        for name, minimum in (("n_fft", 8), ("stft_hop", 1), ("channels", 1), ("blocks", 0), ("kernel_size", 1),
                              ("expansion", 1), ("taps", 1), ("embedding_dim", 2), ("mlp_dim", 1), ("hop", 1),
                              ("magnitude_channels", 1), ("magnitude_blocks", 0), ("projection_iterations", 0),
                              ("prior_frames", 1), ("frequency_layers", 0), ("frequency_channels", 1),
                              ("frequency_reads_stack", 0), ("frequency_dilation", 1),
                              ("prior_smoothing", 0), ("prior_components", 1)):
            _check_int(name, getattr(self, name), minimum, "SpectralConfig")
        for name in ("phase_features", "harmonic_features", "self_conditioning", "harmonic_templates",
                     "pin_components"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"SpectralConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.harmonic_features and not self.frequency_layers:
            raise ValueError("harmonic_features are inputs of the time-frequency branch: set frequency_layers > 0")
        if self.prior_smoothing and self.prior != "corpus":
            raise ValueError("prior_smoothing smooths the prior='corpus' power; this network has "
                             f"prior={self.prior!r}")
        if self.prior_components > 1 and self.prior != "corpus":
            raise ValueError("prior_components makes the prior='corpus' power a mixture; this network has "
                             f"prior={self.prior!r}")
        if self.prior_clustering not in ("spectrogram", "spectrum"):
            raise ValueError(f"SpectralConfig.prior_clustering must be 'spectrogram' or 'spectrum', "
                             f"got {self.prior_clustering!r}")
        if self.pin_components and self.prior_components < 2:
            raise ValueError("pin_components pins a component of the corpus prior's mixture: set "
                             "prior='corpus' and prior_components > 1")
        if self.harmonic_templates and not self.frequency_layers:
            raise ValueError("harmonic_templates are an input of the time-frequency branch: set frequency_layers > 0")
        if self.frequency_reads_stack and not self.frequency_layers:
            raise ValueError("frequency_reads_stack hands the frame stack's maps to the time-frequency branch: "
                             "set frequency_layers > 0")
        if self.n_fft % 2:
            raise ValueError(f"SpectralConfig.n_fft must be even, got {self.n_fft}")
        if self.stft_hop > self.n_fft // 2:
            raise ValueError(f"SpectralConfig.stft_hop ({self.stft_hop}) must be at most n_fft / 2 ({self.n_fft // 2})")
        if self.kernel_size % 2 == 0 or self.taps % 2 == 0:
            raise ValueError(f"kernel_size and taps must be odd, got {self.kernel_size} and {self.taps}")
        if self.embedding_dim % 2:
            raise ValueError(f"SpectralConfig.embedding_dim must be even, got {self.embedding_dim}")
        if self.mel_bins is not None:
            _check_int("mel_bins", self.mel_bins, 1, "SpectralConfig")
        if self.num_classes is not None:
            _check_int("num_classes", self.num_classes, 1, "SpectralConfig")
        if not self.mel_scale > 0:
            raise ValueError(f"mel_scale must be positive, got {self.mel_scale}")
        if self.prior not in _PRIORS:
            raise ValueError(f"SpectralConfig.prior must be one of {_PRIORS}, got {self.prior!r}")
        if self.parameterisation not in _PARAMETERISATIONS:
            raise ValueError(f"SpectralConfig.parameterisation must be one of {_PARAMETERISATIONS}, "
                             f"got {self.parameterisation!r}")
        if self.in_channels != 1 or self.out_channels != 1:
            raise ValueError("the spectral denoiser is mono: in_channels and out_channels must be 1")
        if not self.data_scale > 0 or not 0.0 <= self.pre_emphasis < 1.0:
            raise ValueError(f"data_scale must be > 0 and pre_emphasis in [0, 1), got {self.data_scale}, "
                             f"{self.pre_emphasis}")
        if self.uses_prior and self.mel_config is None:
            raise ValueError(f"prior={self.prior!r} with a mel needs mel_config (the MelConfig of the conditioning mel)")
        if self.prior == "learned" and self.mel_bins is None:
            raise ValueError("prior='learned' predicts the power from the mel: it needs mel_bins")
        if self.prior == "corpus" and self.mel_bins is not None:
            raise ValueError("prior='corpus' is the prior of a network without a mel; a vocoder takes its prior "
                             "from the mel: use prior='wiener' or 'learned'")
        if self.prior == "corpus" and self.projection_iterations:
            raise ValueError("projection_iterations project onto the mel prior's magnitude; prior='corpus' has none")

    @property
    def uses_prior(self) -> bool:
        """Whether the Wiener estimate from the mel is the network's base estimate."""
        return self.prior in ("wiener", "learned") and self.mel_bins is not None

    @property
    def uses_corpus_prior(self) -> bool:
        """Whether the Wiener estimate under the corpus's mean power is the base estimate."""
        return self.prior == "corpus"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary of every field (YAML/JSON friendly)."""
        out = dataclasses.asdict(self)
        if out["mel_config"] is not None:
            out["mel_config"] = dict(out["mel_config"])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SpectralConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"SpectralConfig.from_dict expects a mapping, got {type(data).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in data if k not in valid)
        if unknown:
            raise ValueError(f"unknown SpectralConfig key(s): {', '.join(unknown)}; valid keys are: {', '.join(valid)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> "SpectralConfig":
        """Copy with some fields changed (unknown names raise ``ValueError``)."""
        return self.from_dict({**self.to_dict(), **changes})


NetworkConfig = DenoiserConfig | SpectralConfig


def network_config_from_dict(data: Mapping[str, Any]) -> NetworkConfig:
    """The config a checkpoint stored: a :class:`SpectralConfig` when its ``architecture``
    is ``"spectral"``, else a :class:`DenoiserConfig` (DiffWave, also for checkpoints
    written before there was a choice)."""
    if isinstance(data, Mapping) and data.get("architecture") == "spectral":
        return SpectralConfig.from_dict(data)
    return DenoiserConfig.from_dict(data)


# Presets describe the architecture without conditioning; build_denoiser adds mel/class.
PRESETS: Mapping[str, NetworkConfig] = MappingProxyType(
    {
        # A few thousand samples per second of training on one CPU core: tests and demos.
        # Receptive field 29 samples: spectral textures, not pitch (benchmarks/receptive_field.py).
        "tiny": DenoiserConfig(
            residual_layers=6, residual_channels=16, dilation_cycle=3, embedding_dim=64, mlp_dim=128
        ),
        # DiffWave "base" (about 2.6M parameters with 80-bin mel conditioning).
        "base": DenoiserConfig(residual_layers=30, residual_channels=64, dilation_cycle=10),
        # DiffWave "large" width.
        "large": DenoiserConfig(residual_layers=30, residual_channels=128, dilation_cycle=10),
        # Frame-rate STFT network with a Wiener prior from the mel (wavediff.nn.spectral):
        # receptive field about 0.45 s at 16 kHz for 29k multiply-accumulates per sample.
        # The CPU vocoder of the demo.
        "spectral": SpectralConfig(),
    }
)
