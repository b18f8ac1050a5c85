"""Reading and writing audio files.

Conventions: a loaded signal is a float32 tensor ``(channels, samples)`` with values in
``[-1, 1]`` (integer PCM is scaled by ``1 / 2**(bits-1)``), returned together with its
sample rate in Hz. Every problem with a file is reported as :class:`AudioError`, whose
message names the file, the problem and what to do about it.

Formats: WAV, FLAC, OGG/Vorbis, MP3 and AIFF are read (all through libsndfile; the
``soundfile`` wheels bundle a libsndfile with MP3 support); WAV and FLAC are written.
:data:`READ_FORMATS` is the one list of audio extensions: the corpus readers and
``wavediff vocode`` accept exactly these.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import torch

from ..files import atomic_write
from .resample import resample
from .wav_integrity import warn_if_truncated

__all__ = [
    "AudioError",
    "ClippingWarning",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "DEFAULT_PEAK",
    "DEFAULT_RMS_DB",
    "load_audio",
    "save_audio",
    "audio_info",
    "check_waveform",
    "rms_db",
]

#: File extensions :func:`load_audio` accepts, mapped to the libsndfile container name.
READ_FORMATS: dict[str, str] = {
    ".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aif": "AIFF", ".aiff": "AIFF",
}
#: File extensions :func:`save_audio` writes.
WRITE_FORMATS: dict[str, str] = {".wav": "WAV", ".flac": "FLAC"}

#: Default target of ``normalize="peak"``: largest absolute sample value.
DEFAULT_PEAK = 0.95
#: Default target of ``normalize="loudness"``: RMS level in dBFS (see :func:`rms_db`).
DEFAULT_RMS_DB = -20.0


class AudioError(ValueError):
    """A problem with an audio file or an in-memory waveform.

    The message names the file (or tensor), the problem and the fix.
    """


class ClippingWarning(UserWarning):
    """Samples outside ``[-1, 1]`` were clipped when writing a file."""


def _fmt_list(formats: dict[str, str]) -> str:
    return ", ".join(sorted(formats))


def _check_extension(path: Path, formats: dict[str, str], action: str) -> str:
    ext = path.suffix.lower()
    if ext not in formats:
        shown = path.suffix or "(no extension)"
        raise AudioError(
            f"{path}: unsupported audio format {shown!r}; can {action} {_fmt_list(formats)} "
            f"files only. Convert the file (e.g. `ffmpeg -i {path.name} out.wav`) or "
            f"rename it if the extension is wrong."
        )
    return formats[ext]


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioError(
            f"{path}: file not found. Check the path (relative paths are resolved from "
            f"{os.getcwd()})."
        )
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file. Pass a file path.")
    container = _check_extension(path, READ_FORMATS, "read")
    _check_decoder(path, container)
    if path.stat().st_size == 0:
        raise AudioError(
            f"{path}: the file is empty (0 bytes), so it holds no audio. Re-export or "
            f"re-download it, or remove it from the data set."
        )


@functools.lru_cache(maxsize=None)
def _decodable(container: str) -> bool:
    return container in sf.available_formats()


def _check_decoder(path: Path, container: str) -> None:
    # A system libsndfile older than 1.1 (soundfile installed without its bundled library)
    # has no MP3 decoder; say so instead of calling the file corrupt.
    if not _decodable(container):
        raise AudioError(
            f"{path}: this libsndfile ({sf.__libsndfile_version__}) cannot decode {container} "
            f"files. Upgrade soundfile (`pip install -U soundfile`, whose wheels bundle "
            f"libsndfile >= 1.1 with MP3) or convert the file (`ffmpeg -i {path.name} out.wav`)."
        )


def _corrupt(path: Path, err: Exception) -> AudioError:
    # libsndfile says "Error opening '<path>': <reason>"; keep the reason only.
    detail = str(err).split(": ", 1)[-1].strip() if str(path) in str(err) else str(err).strip()
    return AudioError(
        f"{path}: unreadable or corrupt audio file ({detail or type(err).__name__}). "
        f"Check that it really is a {path.suffix.lower().lstrip('.').upper() or 'supported audio'} file "
        f"({_fmt_list(READ_FORMATS)} are read) and re-export it; "
        f"a truncated download or a mislabelled format causes this."
    )


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(sample_rate, frames, channels)`` of an audio file, read from its header.

    Nothing is decoded. Raises :class:`AudioError` for a missing, empty, unsupported or
    corrupt file. A file with 0 frames is reported as such, not refused.
    """
    path = Path(path)
    _check_readable(path)
    try:
        info = sf.info(str(path))
    except Exception as err:  # libsndfile reports every decoding problem as RuntimeError
        raise _corrupt(path, err) from err
    return int(info.samplerate), int(info.frames), int(info.channels)


def check_waveform(
    x: torch.Tensor,
    name: str = "audio",
    *,
    ndim: int | tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Validate an in-memory waveform and return it unchanged.

    Checks that ``x`` is a floating-point tensor with at least one sample, with
    ``x.ndim`` in ``ndim`` when given (e.g. ``3`` for ``(batch, channels, samples)``),
    and that it holds no NaN or infinite values. Raises :class:`AudioError` naming
    ``name``. The finiteness check synchronises with the device once.
    """
    if not isinstance(x, torch.Tensor):
        raise AudioError(f"{name}: expected a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise AudioError(
            f"{name}: expected a floating-point waveform in [-1, 1], got dtype {x.dtype}. "
            f"Convert integer PCM with x.float() / 32768 (16-bit) first."
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise AudioError(
                f"{name}: expected a {want}-D waveform tensor, got shape {tuple(x.shape)} "
                f"({x.ndim}-D). Audio is (batch, channels, samples) in this library."
            )
    if x.ndim == 0 or x.shape[-1] == 0:
        raise AudioError(f"{name}: waveform has no samples (shape {tuple(x.shape)}).")
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        count = int(bad.sum())
        first = np.unravel_index(int(bad.reshape(-1).nonzero()[0]), tuple(x.shape))
        raise AudioError(
            f"{name}: waveform contains {count} NaN/inf value(s) (first at index "
            f"{tuple(int(i) for i in first)}). It comes from a diverged computation or a "
            f"damaged file; fix the source instead of feeding it on."
        )
    return x


def rms_db(audio: torch.Tensor) -> float:
    """RMS level of ``audio`` in dBFS: ``20 * log10(sqrt(mean(audio**2)))``.

    The mean runs over all channels and samples. 0 dBFS is the RMS of a full-scale
    square wave, so a full-scale sine measures -3.01 dBFS. Silence gives ``-inf``.
    """
    ms = float(audio.double().pow(2).mean())
    return 10.0 * math.log10(ms) if ms > 0 else -math.inf


def _trim(audio: torch.Tensor, top_db: float) -> tuple[torch.Tensor, int, int]:
    """Drop leading/trailing samples quieter than ``peak * 10**(-top_db/20)``.

    Sample-accurate: the kept span runs from the first to the last sample (over any
    channel) whose magnitude reaches the threshold.
    """
    level = audio.abs().amax(dim=0)
    peak = float(level.max())
    threshold = peak * 10.0 ** (-abs(top_db) / 20.0)
    loud = (level >= threshold).nonzero().flatten() if peak > 0 else level.new_empty(0)
    if loud.numel() == 0:
        return audio[:, :0], 0, 0
    start, stop = int(loud[0]), int(loud[-1]) + 1
    return audio[:, start:stop], start, stop


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    mono: Literal["mix"] | int | None = "mix",
    normalize: Literal["peak", "loudness"] | None = None,
    trim_silence_db: float | None = None,
    target_peak: float = DEFAULT_PEAK,
    target_rms_db: float = DEFAULT_RMS_DB,
) -> tuple[torch.Tensor, int]:
    """Read an audio file into a float32 ``(channels, samples)`` tensor.

    Steps, in this order: decode -> check -> channel selection -> silence trimming ->
    resampling -> level normalisation.

    Args:
        path: a ``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ``.aif`` or ``.aiff`` file.
        sample_rate: resample to this rate in Hz (soxr, high quality) when it differs
            from the file's; ``None`` keeps the file's rate.
        mono: ``"mix"`` averages all channels into one (output ``(1, T)``); an int picks
            that channel (negative counts from the end, output ``(1, T)``); ``None``
            keeps every channel (output ``(C, T)``).
        normalize: ``None`` leaves levels alone; ``"peak"`` scales so the largest
            absolute sample equals ``target_peak``; ``"loudness"`` scales so the RMS
            level (:func:`rms_db`, over all channels) equals ``target_rms_db`` dBFS.
            The loudness gain is capped so that no sample exceeds 1.0; a
            :class:`UserWarning` says so when the target could not be reached. A silent
            (all-zero) signal is returned unchanged.
        trim_silence_db: when given, cut leading and trailing samples whose magnitude
            stays below the peak by more than this many dB (e.g. ``40`` keeps the span
            from the first to the last sample within 40 dB of the peak; the sign is
            ignored). ``None`` disables trimming.
        target_peak: peak for ``normalize="peak"``, in ``(0, 1]``. Default 0.95.
        target_rms_db: RMS level in dBFS for ``normalize="loudness"``. Default -20.

    Returns:
        ``(audio, sample_rate)``: float32 tensor ``(channels, samples)`` and its rate.

    Raises:
        AudioError: missing, empty, unsupported or corrupt file, a file with 0 samples,
            NaN/inf samples, a channel index out of range, or nothing left after
            trimming. The message names the file and the fix.
    """
    path = Path(path)
    if normalize not in (None, "peak", "loudness"):
        raise ValueError(f"normalize must be None, 'peak' or 'loudness', got {normalize!r}")
    if not (0.0 < target_peak <= 1.0):
        raise ValueError(f"target_peak must be in (0, 1], got {target_peak}")
    if mono is not None and not (isinstance(mono, str) and mono == "mix"):
        if isinstance(mono, bool) or not isinstance(mono, (int, np.integer)):
            raise ValueError(f"mono must be 'mix', a channel index or None, got {mono!r}")
        mono = int(mono)
    _check_readable(path)
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise _corrupt(path, err) from err

    warn_if_truncated(path)  # libsndfile reads a cut-short WAV without a word
    num_frames, channels = data.shape
    if num_frames == 0:
        raise AudioError(
            f"{path}: the file contains no audio (0 samples, {channels} channel(s) at "
            f"{file_sr} Hz). Re-export it, or remove it from the data set."
        )
    finite = np.isfinite(data)
    if not finite.all():
        bad = np.argwhere(~finite)
        raise AudioError(
            f"{path}: the file contains {len(bad)} NaN/inf sample(s) (first at sample "
            f"{bad[0][0]}, channel {bad[0][1]}). It was written from a diverged model or "
            f"is damaged; regenerate or re-export it."
        )
    audio = torch.from_numpy(np.ascontiguousarray(data.T))  # (C, T)

    if mono == "mix":
        audio = audio.mean(dim=0, keepdim=True)
    elif mono is not None:
        if not -channels <= mono < channels:
            raise AudioError(
                f"{path}: channel {mono} requested but the file has {channels} channel(s); "
                f"use an index in 0..{channels - 1} (or negative from the end), "
                f"mono='mix' to average them, or mono=None to keep all."
            )
        index = mono % channels
        audio = audio[index : index + 1]

    if trim_silence_db is not None:
        audio, _, _ = _trim(audio, float(trim_silence_db))
        if audio.shape[-1] == 0:
            raise AudioError(
                f"{path}: nothing is left after trimming silence more than "
                f"{abs(trim_silence_db):g} dB below the peak (the signal is digital "
                f"silence). Lower the threshold or disable trimming (trim_silence_db=None)."
            )

    sr = int(file_sr)
    if sample_rate is not None and sample_rate != sr:
        audio = resample(audio, sr, sample_rate)
        sr = int(sample_rate)

    if normalize is not None:
        peak = float(audio.abs().max())
        if peak == 0.0:
            warnings.warn(f"{path}: signal is silent; {normalize} normalisation skipped.")
        elif normalize == "peak":
            audio = audio * (target_peak / peak)
        else:
            gain = 10.0 ** ((target_rms_db - rms_db(audio)) / 20.0)
            if gain * peak > 1.0:
                warnings.warn(
                    f"{path}: reaching {target_rms_db:g} dBFS RMS would push the peak to "
                    f"{gain * peak:.2f}; gain limited so the peak is 1.0 (RMS "
                    f"{target_rms_db + 20 * math.log10(1.0 / (gain * peak)):.1f} dBFS)."
                )
                gain = 1.0 / peak
            audio = audio * gain
    return audio.to(torch.float32).contiguous(), sr


def _as_channels_first(audio: torch.Tensor | np.ndarray, path: Path) -> np.ndarray:
    if isinstance(audio, torch.Tensor):
        arr = audio.detach().to("cpu", torch.float32).numpy()
    else:
        arr = np.asarray(audio)
        if arr.dtype.kind != "f":
            raise AudioError(
                f"{path}: expected floating-point samples in [-1, 1], got dtype {arr.dtype}."
            )
        arr = arr.astype(np.float32, copy=False)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise AudioError(
            f"{path}: expected audio of shape (channels, samples) or (samples,), got "
            f"{tuple(arr.shape)}. For a batch (B, C, T) save each item, e.g. audio[0]."
        )
    if arr.shape[0] > 64:
        raise AudioError(
            f"{path}: audio of shape {tuple(arr.shape)} would have {arr.shape[0]} channels; "
            f"it looks like (samples, channels). Pass (channels, samples), e.g. audio.T."
        )
    if arr.shape[1] == 0:
        raise AudioError(f"{path}: refusing to write audio with 0 samples.")
    if not np.isfinite(arr).all():
        raise AudioError(
            f"{path}: refusing to write audio with NaN/inf samples; check the model or "
            f"processing that produced it."
        )
    return arr


def save_audio(
    path: str | os.PathLike,
    audio: torch.Tensor | np.ndarray,
    sample_rate: int,
    subtype: str = "PCM_16",
) -> Path:
    """Write ``audio`` to a WAV or FLAC file, atomically.

    Args:
        path: destination ``.wav`` or ``.flac``; missing parent folders are created.
        audio: float samples in ``[-1, 1]``, shape ``(channels, samples)`` or
            ``(samples,)``, tensor (any device) or numpy array.
        sample_rate: in Hz.
        subtype: libsndfile sample format: ``"PCM_16"`` (default), ``"PCM_24"``,
            ``"PCM_32"`` or ``"FLOAT"`` for WAV; ``"PCM_16"``/``"PCM_24"`` for FLAC.

    Values outside ``[-1, 1]`` are clipped to that range before writing, for every
    subtype (also ``FLOAT``, so a file always reads back in range). When any sample is
    clipped a :class:`ClippingWarning` reports how many and the peak, so clipping is
    never silent. NaN/inf samples are refused with :class:`AudioError`.

    The file is written atomically (:func:`wavediff.files.atomic_write`): readers never
    see a half-written file and a failed write leaves any previous file intact.

    Returns:
        the path written.
    """
    path = Path(path)
    fmt = _check_extension(path, WRITE_FORMATS, "write")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"{path}: sample_rate must be a positive integer, got {sample_rate!r}.")
    if not sf.check_format(fmt, subtype):
        raise AudioError(
            f"{path}: subtype {subtype!r} cannot be written to {fmt}; valid choices: "
            f"{', '.join(sorted(sf.available_subtypes(fmt)))}."
        )
    arr = _as_channels_first(audio, path)
    over = np.abs(arr) > 1.0
    if over.any():
        warnings.warn(
            f"{path}: {int(over.sum())} of {arr.size} samples exceed [-1, 1] (peak "
            f"{float(np.abs(arr).max()):.3f}) and were clipped; scale the audio down to "
            f"avoid distortion.",
            ClippingWarning,
            stacklevel=2,
        )
        arr = np.clip(arr, -1.0, 1.0)

    with atomic_write(path) as handle:
        sf.write(handle, arr.T, int(sample_rate), subtype=subtype, format=fmt)
    return path
