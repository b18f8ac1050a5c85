"""Pictures of audio: log-magnitude spectrograms (and the waveform) as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write


def spectrogram_db(audio: torch.Tensor | np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Log-magnitude STFT in dB relative to full scale, shape (n_fft // 2 + 1, frames)."""
    x = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    window = torch.hann_window(n_fft)
    mag = torch.stft(x, n_fft, hop, window=window, return_complex=True).abs() / window.sum() * 2
    return (20 * torch.log10(mag.clamp(min=1e-6))).numpy()


def save_spectrogram_png(path: str | Path, audio: torch.Tensor | np.ndarray, sample_rate: int,
                         title: str = "", floor_db: float = -90.0) -> Path:
    """Write a spectrogram over the waveform to ``path`` (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(torch.as_tensor(audio, dtype=torch.float32).reshape(-1))
    spec = spectrogram_db(x)
    fig, (ax_s, ax_w) = plt.subplots(2, 1, figsize=(6, 3.6), height_ratios=(3, 1), sharex=True,
                                     constrained_layout=True)
    duration = len(x) / sample_rate
    ax_s.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=floor_db, vmax=0,
                extent=(0, duration, 0, sample_rate / 2000))
    ax_s.set_ylabel("kHz")
    if title:
        ax_s.set_title(title, fontsize=9)
    ax_w.plot(np.arange(len(x)) / sample_rate, x, linewidth=0.4)
    ax_w.set_ylim(-1, 1)
    ax_w.set_xlabel("s")
    path = Path(path)
    try:
        with atomic_write(path) as handle:
            fig.savefig(handle, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
