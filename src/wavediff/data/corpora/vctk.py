"""CSTR VCTK: about 110 English speakers with various accents reading newspaper sentences."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from wavediff.data.corpora.base import AudioItem, CorpusIndex, CorpusReader, list_dirs, list_files
from wavediff.data.corpora.splits import hash_split

__all__ = ["VCTK_LAYOUT", "VCTKReader"]

#: Expected on-disk layout (also shown in data/vctk/README.md).
VCTK_LAYOUT = """\
<root>/                        e.g. VCTK-Corpus-0.92/   (release 0.92, FLAC, two microphones)
  wav48_silence_trimmed/
    p225/
      p225_001_mic1.flac
      p225_001_mic2.flac
      ...
    p226/
      ...
  txt/                         optional transcripts
    p225/
      p225_001.txt
      ...
  speaker-info.txt             optional: ID AGE GENDER ACCENTS REGION, one speaker per line

or the older releases:
<root>/                        e.g. VCTK-Corpus/
  wav48/
    p225/
      p225_001.wav
      ...
  txt/                         optional
    p225/
      p225_001.txt
  speaker-info.txt             optional"""

_MICS = ("mic1", "mic2")


def _read_speaker_info(path: Path) -> dict[str, dict[str, Any]]:
    """``{speaker: {"age", "gender", "accent"}}`` from ``speaker-info.txt`` (lenient)."""
    info: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return info
    for line in path.read_text("utf-8", errors="replace").splitlines():
        tokens = line.split()
        if len(tokens) < 3 or tokens[0].upper() == "ID":
            continue
        speaker = tokens[0] if not tokens[0].isdigit() else f"p{tokens[0]}"
        entry: dict[str, Any] = {"age": int(tokens[1]) if tokens[1].isdigit() else tokens[1], "gender": tokens[2]}
        if len(tokens) > 3:
            entry["accent"] = tokens[3]
        info[speaker] = entry
    return info


class VCTKReader(CorpusReader):
    """Reads VCTK 0.92 (``wav48_silence_trimmed/``, FLAC per microphone) or older (``wav48/``).

    Every item has ``speaker`` and ``label`` set to the speaker id (``"p225"``);
    ``label_index`` follows the sorted speaker list. ``text`` is the transcript from
    ``txt/`` when present (some speakers have none). ``extra`` holds ``utterance``,
    ``mic`` (0.92 only) and ``age``/``gender``/``accent`` from ``speaker-info.txt``.

    Splits: by default by utterance, so every speaker appears in train: the hash key is
    ``<speaker>_<utterance>`` (the same for both microphones and both layouts) and each
    speaker with at least 3 utterances gets at least one valid and one test utterance.
    With ``holdout_speakers`` those speakers form the test split (unseen speakers) and the
    other speakers are split by utterance into train and valid.
    """

    name = "vctk"
    layout = VCTK_LAYOUT
    description = "CSTR VCTK: about 110 English speakers, 48 kHz, read speech with transcripts"

    def index(
        self,
        root: str | os.PathLike[str],
        *,
        mic: str = "mic1",
        speakers: Sequence[str] | None = None,
        holdout_speakers: Sequence[str] | None = None,
        valid_fraction: float = 0.02,
        test_fraction: float = 0.02,
        seed: int = 0,
        read_text: bool = True,
    ) -> CorpusIndex:
        """Index a VCTK folder.

        Args:
            root: the folder holding ``wav48_silence_trimmed/`` (or ``wav48/``).
            mic: ``"mic1"`` or ``"mic2"`` (release 0.92; ignored for ``wav48/``).
            speakers: keep only these speakers (default: all).
            holdout_speakers: speakers held out as the test split.
            valid_fraction: share of each speaker's utterances in valid.
            test_fraction: share of each speaker's utterances in test (not used with
                ``holdout_speakers``).
            seed: changes which utterances the hash split picks.
            read_text: read the transcripts from ``txt/``.

        Raises:
            CorpusLayoutError: the folder does not match :data:`VCTK_LAYOUT`.
            ValueError: unknown ``mic`` or speaker names.
        """
        if mic not in _MICS:
            raise ValueError(f"mic must be one of {_MICS}, got {mic!r}")
        base = self.check_root(root)
        if (base / "wav48_silence_trimmed").is_dir():
            audio_dir, release = base / "wav48_silence_trimmed", "0.92"
        elif (base / "wav48").is_dir():
            audio_dir, release = base / "wav48", "old"
        else:
            raise self.error(base, "neither wav48_silence_trimmed/ nor wav48/ was found")

        speaker_dirs = list_dirs(audio_dir)
        if speakers is not None:
            unknown = sorted(set(speakers) - set(speaker_dirs))
            if unknown:
                raise ValueError(f"vctk: unknown speakers {unknown}; found {len(speaker_dirs)} speakers in {audio_dir}")
            wanted = set(speakers)
            speaker_dirs = [s for s in speaker_dirs if s in wanted]
        info = _read_speaker_info(base / "speaker-info.txt")

        found: list[tuple[str, str, Path, str]] = []  # (speaker, utterance, path, id)
        for speaker in speaker_dirs:
            for name in sorted(list_files(audio_dir / speaker)):
                stem, ext = os.path.splitext(name)
                if release == "0.92":
                    parts = stem.rsplit("_", 2)
                    if ext.lower() != ".flac" or len(parts) != 3 or parts[2] != mic:
                        continue
                else:
                    parts = stem.rsplit("_", 1)
                    if ext.lower() != ".wav" or len(parts) != 2:
                        continue
                utterance = parts[1]
                found.append((speaker, utterance, audio_dir / speaker / name, f"{audio_dir.name}/{speaker}/{name}"))
        if not found:
            what = f"*_{mic}.flac" if release == "0.92" else "*.wav"
            raise self.error(base, f"no {what} files were found in {audio_dir.name}/<speaker>/")

        labels = sorted({f[0] for f in found})
        label_index = {s: i for i, s in enumerate(labels)}
        txt_dir = base / "txt"
        txt_files: dict[str, set[str]] = {}
        items: list[AudioItem] = []
        keys: dict[str, str] = {}
        groups: dict[str, str] = {}
        for speaker, utterance, path, item_id in found:
            text = None
            if read_text:
                if speaker not in txt_files:
                    txt_files[speaker] = list_files(txt_dir / speaker)
                txt_name = f"{speaker}_{utterance}.txt"
                if txt_name in txt_files[speaker]:
                    text = (txt_dir / speaker / txt_name).read_text("utf-8", errors="replace").strip()
            extra: dict[str, Any] = {"utterance": utterance}
            if release == "0.92":
                extra["mic"] = mic
            extra.update(info.get(speaker, {}))
            items.append(
                AudioItem(
                    path=path,
                    id=item_id,
                    label=speaker,
                    label_index=label_index[speaker],
                    speaker=speaker,
                    text=text,
                    extra=extra,
                )
            )
            keys[item_id] = f"{speaker}_{utterance}"
            groups[item_id] = speaker
        items.sort(key=lambda it: it.id)

        if holdout_speakers:
            held = set(holdout_speakers)
            unknown = sorted(held - set(labels))
            if unknown:
                raise ValueError(f"vctk: unknown holdout speakers {unknown}; indexed speakers: {labels}")
            if held >= set(labels):
                raise ValueError("vctk: holdout_speakers leaves no speaker for training")
            seen = {i: k for i, k in keys.items() if groups[i] not in held}
            splits = hash_split(seen, valid_fraction, 0.0, seed=seed, groups=groups)
            splits["test"] = sorted(i for i in keys if groups[i] in held)
            source = "held-out speakers (test) and hash of <speaker>_<utterance> (valid)"
        else:
            splits = hash_split(keys, valid_fraction, test_fraction, seed=seed, groups=groups)
            source = "hash of <speaker>_<utterance>, per speaker"
        return CorpusIndex(
            name=self.name,
            root=base,
            items=items,
            labels=labels,
            splits=splits,
            options={
                "mic": mic,
                "release": release,
                "speakers": list(speakers) if speakers is not None else None,
                "holdout_speakers": sorted(holdout_speakers) if holdout_speakers else None,
                "valid_fraction": valid_fraction,
                "test_fraction": test_fraction,
                "seed": seed,
                "read_text": read_text,
                "split_source": source,
            },
        )
