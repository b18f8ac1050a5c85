"""Mel-spectrogram to waveform with a trained mel-conditioned diffusion model.

>>> voc = Vocoder.from_checkpoint("runs/ljspeech-vocoder/checkpoints/last.ckpt")
>>> audio, sr = voc.vocode_file("speech.wav", steps=6)        # copy-synthesis
>>> audio, sr = voc.vocode(mel, steps=4)                      # mel (n_mels, F) or (B, n_mels, F)

The checkpoint's ``MelConfig`` decides everything: a mel whose shape, range or declared config
does not match is refused with a message saying what differs. The sampler, steps and grid are
chosen by ``wavediff.sampling.plan_sampling`` (with the checkpoint's tuned grids); a distilled
vocoder vocodes as distilled (DDIM on its grid, or multistep consistency sampling).

Long inputs are vocoded in chunks. Every chunk is extended on both sides by enough context
frames that nothing outside it can reach its core: after ``nfe`` network evaluations an
output sample depends on ``nfe * (receptive_field - 1) / 2`` samples either side (plus the
mel upsampler's few frames). The starting noise is drawn per position (fixed blocks of a
counter-based stream keyed by the seed), so chunks see exactly the noise of the unchunked run
and, for deterministic samplers, chunked output equals unchunked output to numerical
precision with memory bounded by the chunk size.

Memory: inputs longer than :data:`MAX_PASS_SECONDS` (including context) are chunked by
default; the full-file arrays are only the input audio, its mel (computed in pieces, so no
full-file spectrogram exists) and the preallocated output, about 9 bytes per sample in all.
A 10-minute file at 22.05 kHz peaks well under 1.5 GB (``benchmarks/vocode_rtf.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .audio.io import READ_FORMATS, load_audio
from .audio.mel import LogMel, check_mel, convert_log_mel
from .audio.mel_config import MelConfig, MelConfigMismatch
from .sampling import load_model, plan_sampling, sample_x0

MEL_FILE_SUFFIXES = (".npy", ".pt")
NOISE_BLOCK = 4096
DETERMINISTIC = ("ddim", "euler", "heun", "dpmpp_2m")
# Longest pass (chunk + context on both sides) vocoded at once when no chunk size is given;
# the network needs about 1 KB of working memory per sample of a pass (DiffWave base).
MAX_PASS_SECONDS = 30.0
# Mel frames computed at once from long audio (bounds the STFT's working memory).
MEL_CHUNK_FRAMES = 4096


def positional_noise(seed: int, example: int, start: int, stop: int, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise for sample positions ``[start, stop)`` of one example, identical
    whichever window is asked for (blocks of ``NOISE_BLOCK`` samples, each seeded by
    ``(seed, example, block)``). Shape (stop - start,)."""
    if stop <= start:
        return torch.zeros(0, device=device, dtype=dtype)
    first, last = start // NOISE_BLOCK, (stop - 1) // NOISE_BLOCK
    blocks = []
    for block in range(first, last + 1):
        key = hashlib.blake2b(f"{seed}:{example}:{block}".encode(), digest_size=8).digest()
        gen = torch.Generator().manual_seed(int.from_bytes(key, "little") & (2**63 - 1))
        blocks.append(torch.randn(NOISE_BLOCK, generator=gen))
    noise = torch.cat(blocks)[start - first * NOISE_BLOCK: stop - first * NOISE_BLOCK]
    return noise.to(device=device, dtype=dtype)


def convention_config(name: str, like: MelConfig) -> MelConfig:
    """``like`` with the log/normalisation conventions of a named preset (``diffwave`` or
    ``hifigan``): the config of a mel made by such a front-end on ``like``'s STFT."""
    preset = MelConfig.preset(name)
    return dataclasses.replace(like, log=preset.log, log_floor=preset.log_floor,
                               normalisation=preset.normalisation, stft_normalized=preset.stft_normalized)


def chunked_log_mel(audio: torch.Tensor, cfg: MelConfig, length: int | None = None,
                    chunk_frames: int = MEL_CHUNK_FRAMES) -> torch.Tensor:
    """Log-mel features of ``audio`` (C, T) -> (C, n_mels, F), computed ``chunk_frames`` frames
    at a time: the same frames as ``LogMel(cfg)(audio)`` (each frame sees only its own
    window), without a spectrogram of the whole signal in memory.

    ``length``: treat the audio as zero-padded on the right to this many samples (default
    ``T``), without materialising the padded copy.
    """
    total = audio.shape[-1] if length is None else length
    frames = cfg.num_frames(total)
    pad = cfg.pad
    window = cfg.n_fft
    if frames <= chunk_frames:
        if total > audio.shape[-1]:
            audio = torch.nn.functional.pad(audio, (0, total - audio.shape[-1]))
        return LogMel(cfg).to(audio.device)(audio)
    # frame f covers samples [f * hop - pad, f * hop - pad + n_fft) of the padded signal
    unpadded = LogMel(dataclasses.replace(cfg, center=False, frame_pad=0)).to(audio.device)
    pieces = []
    count = -(-frames // chunk_frames)  # equal pieces: none so short that the edge padding
    bounds = [frames * i // count for i in range(count + 1)]  # would not fit inside it
    for f0, f1 in zip(bounds[:-1], bounds[1:]):
        lo, hi = f0 * cfg.hop_length - pad, (f1 - 1) * cfg.hop_length - pad + window
        seg = audio[..., max(lo, 0): min(hi, audio.shape[-1])]
        zeros = max(0, min(hi, total) - max(audio.shape[-1], lo))  # the virtual zero padding
        if zeros:
            seg = torch.nn.functional.pad(seg, (0, zeros))
        left, right = max(0, -lo), max(0, hi - total)
        if left or right:  # the config's own edge padding, only at the ends of the signal
            seg = torch.nn.functional.pad(seg.unsqueeze(0), (left, right), mode=cfg.pad_mode).squeeze(0)
        pieces.append(unpadded(seg))
    return torch.cat(pieces, dim=-1)


class _NetworkInDtype:
    """The network called in its own dtype (e.g. bfloat16 after ``Vocoder.to(torch.bfloat16)``)
    while the sampler keeps ``x_t`` and its arithmetic in float32: low precision where it buys
    speed, none in the update rule that accumulates over the steps."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def __call__(self, x_t: torch.Tensor, logsnr: torch.Tensor, **cond: Any) -> torch.Tensor:
        dtype = self.net.input_proj.weight.dtype
        if dtype == x_t.dtype:
            return self.net(x_t, logsnr, **cond)
        return self.net(x_t.to(dtype), logsnr.float(), **cond).to(x_t.dtype)

    def condition(self, **inputs: Any) -> Any:
        """The network's own precomputed conditioning (``net.condition``)."""
        return self.net.condition(**inputs)

    @property
    def null_class(self) -> int | None:
        """The network's null class (``None``: a vocoder has no classes)."""
        return self.net.null_class


class Vocoder(nn.Module):
    """A mel-conditioned wavediff model ready to vocode, as an ``nn.Module``.

    Its submodule is the network (``net``: the EMA weights by default), so ``.to(device)``, ``.to(torch.bfloat16)``/``.half()``, ``state_dict()`` /
    ``load_state_dict()`` and use inside another model work as for any module; calling it,
    ``voc(mel, steps)``, returns the waveform (``vocode`` also returns the sample rate). In a
    low precision the network runs in it while the sampler's state stays float32. Everything
    else (schedule, parameterisation, MelConfig, recipe) comes from the checkpoint and is not
    part of the state dict.

    Args:
        module: a loaded ``DiffusionModule`` whose network is mel-conditioned (kept as a plain
            attribute, outside the module tree).
        ema: use the EMA weights (default) or the raw ones.
    """

    def __init__(self, module: Any, ema: bool = True) -> None:
        super().__init__()
        if module.mel_config is None or module.conditioning != "mel":
            raise ValueError("this checkpoint is not a vocoder (it has no mel conditioning); "
                             "use `wavediff sample` for unconditional or class-conditional models")
        object.__setattr__(self, "module", module)  # not a submodule: the state dict is the network's
        self.net = module.ema.model if ema else module.net
        self.mel_config: MelConfig = module.mel_config
        self.sample_rate: int = module.sample_rate
        self.hop: int = self.mel_config.hop_length
        self.tuned_grids: dict[str, list[float]] = dict(getattr(module, "tuned_grids", {}) or {})
        # features are computed in float32 on the audio's device whatever the network's dtype:
        # kept out of the module tree so that .to(torch.bfloat16) leaves the filter bank alone
        object.__setattr__(self, "_log_mel", LogMel(self.mel_config))
        self.eval()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", ema: bool = True,
                        dtype: torch.dtype | None = None) -> "Vocoder":
        """Load a vocoder checkpoint; ``dtype`` (e.g. ``torch.bfloat16``) casts the network."""
        voc = cls(load_model(path, device), ema=ema)
        return voc.to(dtype=dtype) if dtype is not None else voc

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """dtype of the network's weights (the sampler itself runs in float32)."""
        return next(self.net.parameters()).dtype

    def forward(self, mel: torch.Tensor | np.ndarray, steps: int | None = None, method: str | None = None,
                **kwargs: Any) -> torch.Tensor:
        """``vocode(mel, steps, method, **kwargs)``'s waveform (B, 1, F * hop), float32."""
        return self.vocode(mel, steps, method, **kwargs)[0]

    # -- features -------------------------------------------------------------------------
    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel features of audio (..., T) at the checkpoint's rate: (..., n_mels, F), float32."""
        return self._log_mel.to(audio.device)(audio.float())

    def prepare_mel(self, mel: torch.Tensor | np.ndarray, declared: MelConfig | dict | None = None,
                    convention: str | None = None) -> torch.Tensor:
        """Validate (and if asked, convert) a mel array to (B, n_mels, F) for this checkpoint.

        ``declared``: the MelConfig the mel says it was made with (refused when it differs
        in anything but the convertible log/normalisation fields). ``convention``: the mel
        comes from a ``diffwave`` or ``hifigan`` style front-end on this STFT; convert it."""
        mel = torch.as_tensor(np.asarray(mel) if not isinstance(mel, torch.Tensor) else mel)
        if mel.is_complex():  # .float() would silently drop the imaginary part
            raise ValueError("mel is complex-valued (an STFT?); give real log-mel values made with the "
                             "checkpoint's MelConfig")
        mel = mel.float()
        if mel.ndim == 2:
            mel = mel.unsqueeze(0)
        if mel.ndim != 3:
            raise ValueError(f"mel must have shape (n_mels, frames) or (batch, n_mels, frames), got {tuple(mel.shape)}")
        source = None
        if declared is not None:
            source = declared if isinstance(declared, MelConfig) else MelConfig.from_dict(declared, allow_missing=True)
        elif convention is not None:
            source = convention_config(convention, self.mel_config)
        if source is not None and source != self.mel_config:
            try:
                mel = convert_log_mel(mel, source, self.mel_config)
            except MelConfigMismatch as err:
                raise MelConfigMismatch(f"{err}\nThis checkpoint's MelConfig cannot vocode that mel; "
                                        "recompute it from audio with the checkpoint's MelConfig.",
                                        getattr(err, "differences", None)) from None
        try:
            return check_mel(mel, self.mel_config)
        except MelConfigMismatch as err:
            hint = ""
            if convention is None and declared is None:
                for name in ("hifigan", "diffwave"):
                    try:
                        check_mel(convert_log_mel(mel, convention_config(name, self.mel_config), self.mel_config),
                                  self.mel_config)
                    except (MelConfigMismatch, ValueError):
                        continue
                    hint = (f"\nIts values look like a '{name}'-style mel: pass --mel-convention {name} "
                            f"(mel_convention='{name}') to convert it.")
                    break
            raise MelConfigMismatch(f"{err}{hint}", getattr(err, "differences", None)) from None

    # -- vocoding ---------------------------------------------------------------------------
    def context_frames(self, nfe: int) -> int:
        """Frames of context either side of a chunk so that its core is exact."""
        reach = nfe * (self.net.receptive_field - 1) // 2
        return math.ceil(reach / self.hop) + 2  # + the mel upsampler's own context

    @torch.inference_mode()
    def vocode(self, mel: torch.Tensor | np.ndarray, steps: int | None = None, method: str | None = None, *,
               grid: str | None = None, logsnr_grid: list[float] | None = None, seed: int = 0,
               chunk_frames: int | None = None, overlap_frames: int | None = None,
               mel_convention: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, int]:
        """Waveform (B, 1, F * hop) for a mel (n_mels, F) or (B, n_mels, F), and the sample rate.

        ``chunk_frames``: vocode in chunks of this many frames; ``None`` chooses: one pass
        when the input (with context) is at most :data:`MAX_PASS_SECONDS` long, otherwise the
        largest chunks whose passes fit that length (at least twice the context, so that
        chunking never more than doubles the work). ``chunk_frames >= F`` is one pass.
        ``overlap_frames`` defaults to the exact context ``context_frames(nfe)``."""
        plan = plan_sampling(self.module, steps=steps, method=method, grid=grid, logsnr_grid=logsnr_grid,
                             tuned_grids=self.tuned_grids)
        mel = self.prepare_mel(mel, convention=mel_convention).to(self.device)
        batch, frames = mel.shape[0], mel.shape[-1]
        context = self.context_frames(plan.nfe) if overlap_frames is None else overlap_frames
        if chunk_frames is None:
            chunk_frames = self.auto_chunk_frames(frames, context)
        if chunk_frames >= frames:
            spans = [(0, frames)]
        else:
            spans = [(c, min(c + chunk_frames, frames)) for c in range(0, frames, chunk_frames)]
        # written chunk by chunk: the only full-length buffer of the run
        out = torch.empty(batch, 1, frames * self.hop, device=self.device)
        net = _NetworkInDtype(self.net)
        gen = torch.Generator().manual_seed(seed)  # per-step noise of stochastic samplers
        for i, (c0, c1) in enumerate(spans):
            w0, w1 = (max(c0 - context, 0), min(c1 + context, frames)) if len(spans) > 1 else (c0, c1)
            noise = torch.stack([positional_noise(seed, b, w0 * self.hop, w1 * self.hop, self.device)
                                 for b in range(batch)]).unsqueeze(1)
            # the chunk's mel is upsampled once and reused at every step
            x0 = sample_x0(self.module, plan, noise.shape, net=net, mel=mel[..., w0:w1], generator=gen, noise=noise)
            out[..., c0 * self.hop: c1 * self.hop] = x0[..., (c0 - w0) * self.hop: (c1 - w0) * self.hop]
            del noise, x0  # free this chunk's buffers before the next one is built
            if progress is not None:
                progress(i + 1, len(spans))
        # x_0 -> audio once over the whole output: the de-emphasis filter runs across chunk seams
        out = self.module.data_transform.decode(out)
        return out.clamp_(-1.0, 1.0), self.sample_rate

    def auto_chunk_frames(self, frames: int, context: int) -> int:
        """Chunk size used when none is given: ``frames`` (one pass) when the whole input fits
        :data:`MAX_PASS_SECONDS`; otherwise the chunk whose pass (chunk + 2 * context) fits it,
        but at least ``2 * context`` frames."""
        limit = int(MAX_PASS_SECONDS * self.sample_rate) // self.hop
        if frames <= limit:
            return frames
        return max(limit - 2 * context, 2 * context, 1)

    def load_input(self, path: str | Path, mel_convention: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Read an input file: audio (any of ``READ_FORMATS``: WAV/FLAC/OGG/MP3/AIFF) -> (mel, audio); a mel array (.npy, or .pt
        holding a tensor or ``{"mel": tensor, "mel_config": dict}``) -> (mel, None)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in READ_FORMATS:
            audio, _ = load_audio(path, self.sample_rate, mono="mix")
            # enough frames to cover every sample (HiFi-GAN framing drops a last partial hop):
            # zero-pad by whole hops (virtually: chunked_log_mel reads zeros past the end)
            length = audio.shape[-1]
            while self.mel_config.num_frames(length) * self.hop < audio.shape[-1]:
                length += self.hop
            return chunked_log_mel(audio.to(self.device), self.mel_config, length), audio
        if suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as err:
                raise ValueError(f"{path}: cannot read a mel array ({err})") from None
            return self.prepare_mel(array, convention=mel_convention), None
        if suffix == ".pt":
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad input file
                raise ValueError(f"{path}: cannot read a mel tensor ({err})") from None
            if isinstance(obj, dict):
                if "mel" not in obj:
                    raise ValueError(f"{path}: a .pt mel file holds a tensor or a dict with key 'mel'")
                return self.prepare_mel(obj["mel"], declared=obj.get("mel_config"), convention=mel_convention), None
            return self.prepare_mel(obj, convention=mel_convention), None
        raise ValueError(f"{path}: unsupported input; give an audio file ({', '.join(sorted(READ_FORMATS))}) "
                         f"or a mel array ({', '.join(MEL_FILE_SUFFIXES)})")

    def vocode_file(self, path: str | Path, steps: int | None = None, method: str | None = None,
                    **kwargs: Any) -> tuple[torch.Tensor, int]:
        """Vocode one input file; returns audio (1, T) and the sample rate. For audio inputs
        (copy-synthesis) the output is trimmed to the input's length."""
        convention = kwargs.pop("mel_convention", None)
        mel, audio = self.load_input(path, convention)
        out, sr = self.vocode(mel, steps, method, **kwargs)
        out = out[0]
        if audio is not None:
            out = out[..., : audio.shape[-1]]
        return out, sr
