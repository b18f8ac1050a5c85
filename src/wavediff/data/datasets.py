"""Torch datasets over a corpus index: random fixed-length training segments and whole
validation clips, with mel frames aligned to the hop.

Training batches are a pure function of ``(seed, global index)``: item ``i`` of
``SegmentDataset`` draws its file and offset from a generator seeded with ``(seed, i)``, and
``StepSampler`` hands out indices ``step * world * batch + rank * batch + j``. So a run
resumed at step ``k`` sees exactly the batches an uninterrupted run sees from step ``k`` on,
on any number of workers or devices.

A batch is a dict: ``audio`` (B, 1, T) float32 in [-1, 1]; ``mel`` (B, n_mels, T // hop)
when a ``MelConfig`` is given; ``label`` (B,) int64 when the corpus has labels.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..audio.io import AudioError, audio_info, load_audio
from ..audio.mel import LogMel
from ..audio.mel_config import MelConfig
from ..files import atomic_write


class ItemLike(Protocol):
    path: Path
    id: str
    label_index: int | None


@dataclass
class LoadedClip:
    """One decoded file: mono audio (T,) at the dataset rate, its log-mel (n_mels, F) if any."""

    id: str
    audio: torch.Tensor
    mel: torch.Tensor | None
    label: int | None


def check_items(items: Sequence[ItemLike], what: str = "corpus") -> list[ItemLike]:
    """Read every file's header; drop unreadable or empty files with ONE warning listing them.
    Raises ``AudioError`` when nothing usable is left."""
    good, bad = [], []
    for item in items:
        try:
            _, frames, _ = audio_info(item.path)
            if frames == 0:
                raise AudioError(f"{item.path}: empty file (0 samples)")
            good.append(item)
        except AudioError as err:
            bad.append(f"{item.path.name}: {str(err).splitlines()[0]}")
    if bad:
        shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        warnings.warn(f"{what}: skipped {len(bad)} unreadable or empty file(s):\n  {shown}", stacklevel=2)
    if not good:
        raise AudioError(f"{what}: no readable audio files left after skipping {len(bad)} bad file(s)")
    return good


def _item_seed(seed: int, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class ClipStore:
    """Decodes (and optionally keeps in memory) the clips of a corpus at one sample rate,
    with their full-file log-mels. Disk caching of mels is keyed by the MelConfig."""

    def __init__(self, items: Sequence[ItemLike], sample_rate: int, mel: MelConfig | None = None,
                 in_memory: bool = True, mel_cache_dir: str | Path | None = None,
                 min_samples: int = 0) -> None:
        self.items = list(items)
        self.sample_rate = sample_rate
        self.mel_config = mel
        self.in_memory = in_memory
        self.min_samples = max(min_samples, mel.min_samples if mel is not None else 0)
        self._mel = LogMel(mel) if mel is not None else None
        self._cache: dict[int, LoadedClip] = {}
        self.mel_cache_dir = None
        if mel_cache_dir is not None and mel is not None:
            key = hashlib.sha1(repr(sorted(mel.to_dict().items())).encode()).hexdigest()[:12]
            self.mel_cache_dir = Path(mel_cache_dir) / f"mel-{key}"
            self.mel_cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.items)

    def preload(self, what: str = "corpus") -> None:
        """Decode every clip now (in-memory stores): files that fail to decode (corrupt data,
        NaN/inf samples) are dropped and listed in ONE warning, instead of failing later in a
        data-loader worker."""
        if not self.in_memory:
            return
        good, bad, kept = [], [], {}
        for index, item in enumerate(self.items):
            try:
                clip = self.get(index)
            except AudioError as err:
                bad.append(f"{item.path.name}: {str(err).splitlines()[0]}")
                continue
            kept[len(good)] = clip
            good.append(item)
        if bad:
            shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
            warnings.warn(f"{what}: skipped {len(bad)} file(s) that could not be decoded:\n  {shown}", stacklevel=2)
        if not good:
            raise AudioError(f"{what}: none of the {len(self.items)} files could be decoded")
        self.items, self._cache = good, kept

    def get(self, index: int) -> LoadedClip:
        if index in self._cache:
            return self._cache[index]
        item = self.items[index]
        audio, _ = load_audio(item.path, self.sample_rate, mono="mix")
        audio = audio[0]
        if audio.numel() < self.min_samples:  # too short for one mel frame or one segment: pad
            audio = torch.nn.functional.pad(audio, (0, self.min_samples - audio.numel()))
        clip = LoadedClip(item.id, audio, self._load_mel(item, audio), item.label_index)
        if self.in_memory:
            self._cache[index] = clip
        return clip

    def _load_mel(self, item: ItemLike, audio: torch.Tensor) -> torch.Tensor | None:
        if self._mel is None:
            return None
        path = None
        if self.mel_cache_dir is not None:
            safe = hashlib.sha1(item.id.encode()).hexdigest()[:16]
            path = self.mel_cache_dir / f"{safe}.npy"
            if path.is_file():
                return torch.from_numpy(np.load(path))
        with torch.no_grad():
            mel = self._mel(audio.unsqueeze(0))[0]
        if path is not None:
            with atomic_write(path, fsync=False) as handle:  # a cache: rebuilt when lost
                np.save(handle, mel.numpy())
        return mel


class SegmentDataset(Dataset):
    """Random training segments, ``length`` items long (virtually; indices beyond one pass
    keep drawing fresh segments).

    Each item picks a clip uniformly and a segment of ``segment_samples`` samples inside it;
    with a MelConfig the segment is ``frames * hop`` samples starting at a frame boundary,
    paired with the clip's mel frames ``[f0, f0 + frames)``. Clips shorter than a segment are
    zero-padded at the end."""

    def __init__(self, store: ClipStore, segment_samples: int, length: int, seed: int = 0) -> None:
        self.store, self.length, self.seed = store, length, seed
        mel = store.mel_config
        if mel is not None:
            self.frames = segment_samples // mel.hop_length
            if self.frames < 1:
                raise ValueError(f"segment_samples={segment_samples} is shorter than one mel hop ({mel.hop_length})")
            self.segment = self.frames * mel.hop_length
        else:
            self.frames, self.segment = 0, segment_samples

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(_item_seed(self.seed, index))
        clip = self.store.get(int(rng.integers(len(self.store))))
        out: dict[str, torch.Tensor] = {}
        if clip.mel is not None:
            hop = self.store.mel_config.hop_length
            max_f0 = max(clip.mel.shape[-1] - self.frames, 0)
            f0 = int(rng.integers(max_f0 + 1))
            mel = clip.mel[:, f0:f0 + self.frames]
            if mel.shape[-1] < self.frames:  # pad with the quietest frame value
                mel = torch.nn.functional.pad(mel, (0, self.frames - mel.shape[-1]), value=float(clip.mel.min()))
            out["mel"] = mel
            start = f0 * hop
        else:
            start = int(rng.integers(max(clip.audio.numel() - self.segment, 0) + 1))
        audio = clip.audio[start:start + self.segment]
        if audio.numel() < self.segment:
            audio = torch.nn.functional.pad(audio, (0, self.segment - audio.numel()))
        out["audio"] = audio.unsqueeze(0)
        if clip.label is not None:
            out["label"] = torch.tensor(clip.label, dtype=torch.long)
        return out


class ClipDataset(Dataset):
    """Whole clips (validation, evaluation), cut to at most ``max_samples`` and, with a
    MelConfig, to a whole number of hops with matching mel frames."""

    def __init__(self, store: ClipStore, max_samples: int | None = None) -> None:
        self.store, self.max_samples = store, max_samples

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self.store.get(index)
        audio = clip.audio
        if self.max_samples is not None:
            audio = audio[: self.max_samples]
        out: dict[str, Any] = {"id": clip.id}
        if clip.mel is not None:
            hop = self.store.mel_config.hop_length
            frames = min(audio.numel() // hop, clip.mel.shape[-1])
            audio = audio[: frames * hop]
            out["mel"] = clip.mel[:, :frames]
        out["audio"] = audio.unsqueeze(0)
        if clip.label is not None:
            out["label"] = torch.tensor(clip.label, dtype=torch.long)
        return out


class StepSampler(Sampler[int]):
    """Yields the dataset indices of every batch from the current global step on:
    ``(step * world + rank) * batch + j``. ``start_step`` is read when iteration starts, so a
    resumed trainer continues exactly where it stopped."""

    def __init__(self, batch_size: int, total_steps: int, start_step: Callable[[], int] = lambda: 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.batch_size, self.total_steps = batch_size, total_steps
        self.start_step, self.rank, self.world_size = start_step, rank, world_size

    def __len__(self) -> int:
        return max(self.total_steps - self.start_step(), 0) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start_step(), self.total_steps):
            base = (step * self.world_size + self.rank) * self.batch_size
            yield from range(base, base + self.batch_size)


def collate_clips(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack equal-length clips; validation uses batch size 1 for clips of any length."""
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [b[key] for b in batch]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out

