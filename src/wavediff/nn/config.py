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

__all__ = ["DenoiserConfig", "NOISE_EMBEDDINGS", "PRESETS"]

#: Ways of embedding the noise level (``DenoiserConfig.noise_embedding``).
NOISE_EMBEDDINGS: tuple[str, ...] = ("fourier", "diffwave_step")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"DenoiserConfig.{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"DenoiserConfig.{name} must be >= {minimum}, got {value}")


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


# Presets describe the architecture without conditioning; build_denoiser adds mel/class.
PRESETS: Mapping[str, DenoiserConfig] = MappingProxyType(
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
    }
)
