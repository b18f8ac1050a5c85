"""Audio front-end: file I/O, resampling and mel features.

Audio tensors are float32 ``(..., channels, samples)`` with values in [-1, 1]; the
sample rate always travels with them.
"""

from .io import (
    DEFAULT_PEAK,
    DEFAULT_RMS_DB,
    READ_FORMATS,
    WRITE_FORMATS,
    AudioError,
    ClippingWarning,
    audio_info,
    check_waveform,
    load_audio,
    rms_db,
    save_audio,
)
from .mel import (
    LogMel,
    MelSpectrogram,
    check_mel,
    compress_mel,
    convert_log_mel,
    decompress_mel,
    log_mel,
    mel_spectrogram,
)
from .mel_config import CONVERTIBLE_FIELDS, MEL_PRESETS, MelConfig, MelConfigMismatch
from .metric_registry import METRICS
from .metrics import copy_synthesis_metrics, mel_l1, mrstft_distance, real_time_factor
from .resample import QUALITIES, resample, resampled_length

__all__ = [
    "METRICS",
    "copy_synthesis_metrics",
    "mel_l1",
    "mrstft_distance",
    "real_time_factor",
    "AudioError",
    "ClippingWarning",
    "CONVERTIBLE_FIELDS",
    "DEFAULT_PEAK",
    "DEFAULT_RMS_DB",
    "LogMel",
    "MEL_PRESETS",
    "MelConfig",
    "MelConfigMismatch",
    "MelSpectrogram",
    "QUALITIES",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "audio_info",
    "check_mel",
    "check_waveform",
    "compress_mel",
    "convert_log_mel",
    "decompress_mel",
    "load_audio",
    "log_mel",
    "mel_spectrogram",
    "resample",
    "resampled_length",
    "rms_db",
    "save_audio",
]
