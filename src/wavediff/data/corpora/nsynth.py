"""NSynth: four-second single notes of about a thousand instruments, annotated with pitch and family."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from wavediff.data.corpora.base import AudioItem, CorpusIndex, CorpusReader, list_files

__all__ = [
    "NSYNTH_FAMILIES",
    "NSYNTH_LAYOUT",
    "NSYNTH_SOURCES",
    "NSynthReader",
]

#: Instrument family names in the order of the corpus's ``instrument_family`` index.
NSYNTH_FAMILIES: tuple[str, ...] = (
    "bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal",
)

#: Instrument source names in the order of the corpus's ``instrument_source`` index.
NSYNTH_SOURCES: tuple[str, ...] = ("acoustic", "electronic", "synthetic")

#: Expected on-disk layout (also shown in data/nsynth/README.md).
NSYNTH_LAYOUT = """\
<root>/
  nsynth-train/
    examples.json              {"<note_str>": {"pitch": 22, "velocity": 100, "instrument_family": 0, ...}, ...}
    audio/
      bass_electronic_018-022-100.wav      <note_str>.wav
      ...
  nsynth-valid/
    examples.json
    audio/
  nsynth-test/
    examples.json
    audio/
(a <root> that is itself one nsynth-*/ folder is accepted too; missing split folders are allowed)"""

_SPLIT_FOLDERS = {"nsynth-train": "train", "nsynth-valid": "valid", "nsynth-test": "test"}
_LABELS = ("pitch", "instrument_family", None)


def _as_set(value: str | Sequence[str] | None, allowed: Sequence[str], what: str) -> set[str] | None:
    if value is None:
        return None
    chosen = {value} if isinstance(value, str) else set(value)
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise ValueError(f"nsynth: unknown {what} {unknown}; expected some of {list(allowed)}")
    return chosen


class NSynthReader(CorpusReader):
    """Reads the NSynth split folders (``examples.json`` + ``audio/<note_str>.wav``).

    Labels: ``label="pitch"`` (default) gives the MIDI pitch as a string with
    ``label_index`` = pitch and ``labels`` = ``"0"`` .. ``"127"`` (so indices match
    pitches even when some are absent); ``label="instrument_family"`` gives the family
    name with the corpus's family index (``labels`` = :data:`NSYNTH_FAMILIES`);
    ``label=None`` gives no labels. ``extra`` holds ``pitch``, ``velocity``,
    ``instrument``, ``instrument_family``, ``instrument_source``, ``qualities`` and
    ``sample_rate`` where the json has them. Splits come from the folder names.
    Notes in ``examples.json`` without a wav are skipped with one :class:`CorpusWarning`.
    """

    name = "nsynth"
    layout = NSYNTH_LAYOUT
    description = "NSynth: 305,979 four-second notes of 1,006 instruments, 16 kHz, with pitch/velocity/family"

    def _split_dirs(self, base: Path) -> list[tuple[Path, str]]:
        found = [(base / folder, split) for folder, split in _SPLIT_FOLDERS.items() if (base / folder).is_dir()]
        if found:
            return found
        if (base / "examples.json").is_file():
            name = base.name.lower()
            split = next((s for suffix, s in (("train", "train"), ("valid", "valid"), ("test", "test")) if name.endswith(suffix)), "train")
            return [(base, split)]
        raise self.error(base, "no nsynth-train/, nsynth-valid/ or nsynth-test/ folder (and no examples.json) was found")

    def index(
        self,
        root: str | os.PathLike[str],
        *,
        label: str | None = "pitch",
        pitch_range: tuple[int, int] | None = None,
        instrument_source: str | Sequence[str] | None = None,
        instrument_family: str | Sequence[str] | None = None,
    ) -> CorpusIndex:
        """Index an NSynth folder.

        Args:
            root: the folder holding the ``nsynth-*/`` split folders, or one of them.
            label: ``"pitch"``, ``"instrument_family"`` or ``None``.
            pitch_range: keep notes with ``lo <= pitch <= hi`` (MIDI, inclusive).
            instrument_source: keep only these sources (``"acoustic"``,
                ``"electronic"``, ``"synthetic"``).
            instrument_family: keep only these families (names of :data:`NSYNTH_FAMILIES`).

        Raises:
            CorpusLayoutError: the folder does not match :data:`NSYNTH_LAYOUT`.
            ValueError: bad options, or no note passes the filters.
        """
        if label not in _LABELS:
            raise ValueError(f"label must be one of {_LABELS}, got {label!r}")
        if pitch_range is not None:
            lo, hi = (int(x) for x in pitch_range)
            if lo > hi:
                raise ValueError(f"pitch_range must be (low, high) with low <= high, got {pitch_range}")
        sources = _as_set(instrument_source, NSYNTH_SOURCES, "instrument_source")
        families = _as_set(instrument_family, NSYNTH_FAMILIES, "instrument_family")
        base = self.check_root(root)

        items: list[AudioItem] = []
        splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
        missing: list[str] = []
        total = 0
        for folder, split in self._split_dirs(base):
            meta = folder / "examples.json"
            where = folder.relative_to(base).as_posix() if folder != base else "."
            prefix = "" if folder == base else f"{where}/"
            if not meta.is_file():
                raise self.error(base, f"{where}/examples.json is missing")
            if not (folder / "audio").is_dir():
                raise self.error(base, f"{where}/audio/ is missing")
            try:
                examples = json.loads(meta.read_text("utf-8"))
            except ValueError as exc:
                raise self.error(base, f"{where}/examples.json is not valid JSON ({exc})") from None
            if not isinstance(examples, dict):
                raise self.error(base, f"{where}/examples.json is not an object keyed by note_str")
            present = list_files(folder / "audio")
            for note_str, ex in examples.items():
                total += 1
                try:
                    pitch = int(ex["pitch"])
                    family_index = int(ex["instrument_family"]) if "instrument_family" in ex else None
                except (KeyError, TypeError, ValueError):
                    raise self.error(base, f"{where}/examples.json entry {note_str!r} has no integer 'pitch'") from None
                family = ex.get("instrument_family_str")
                if family is None and family_index is not None and 0 <= family_index < len(NSYNTH_FAMILIES):
                    family = NSYNTH_FAMILIES[family_index]
                source = ex.get("instrument_source_str")
                if source is None and isinstance(ex.get("instrument_source"), int):
                    source = NSYNTH_SOURCES[ex["instrument_source"]] if 0 <= ex["instrument_source"] < 3 else None
                if pitch_range is not None and not (lo <= pitch <= hi):
                    continue
                if sources is not None and source not in sources:
                    continue
                if families is not None and family not in families:
                    continue
                file_name = f"{note_str}.wav"
                if file_name not in present:
                    missing.append(f"{prefix}audio/{file_name}")
                    continue
                item_label: str | None = None
                item_index: int | None = None
                if label == "pitch":
                    if not 0 <= pitch <= 127:
                        raise self.error(base, f"{where}/examples.json entry {note_str!r} has pitch {pitch} outside 0..127")
                    item_label, item_index = str(pitch), pitch
                elif label == "instrument_family":
                    if family_index is None or not 0 <= family_index < len(NSYNTH_FAMILIES) or family != NSYNTH_FAMILIES[family_index]:
                        raise self.error(
                            base,
                            f"{where}/examples.json entry {note_str!r} has instrument_family {family_index} / "
                            f"{family!r}, which does not match the family list {list(NSYNTH_FAMILIES)}",
                        )
                    item_label, item_index = family, family_index
                extra: dict[str, Any] = {"pitch": pitch}
                for key, out in (("velocity", "velocity"), ("instrument_str", "instrument"),
                                 ("qualities_str", "qualities"), ("sample_rate", "sample_rate")):
                    if key in ex:
                        extra[out] = ex[key]
                if family is not None:
                    extra["instrument_family"] = family
                if source is not None:
                    extra["instrument_source"] = source
                item_id = f"{prefix}audio/{file_name}"
                items.append(
                    AudioItem(path=folder / "audio" / file_name, id=item_id, label=item_label, label_index=item_index, extra=extra)
                )
                splits[split].append(item_id)

        if not items:
            if missing:
                raise self.error(base, f"none of the {len(missing)} notes listed in examples.json has a wav in audio/")
            if total:
                raise ValueError(f"nsynth: none of the {total} notes in {base} passes the filters")
            raise self.error(base, "examples.json lists no notes")
        self.warn_skipped(missing, "note(s) listed in examples.json without a wav file")
        items.sort(key=lambda it: it.id)
        labels = [str(p) for p in range(128)] if label == "pitch" else list(NSYNTH_FAMILIES) if label else []
        return CorpusIndex(
            name=self.name,
            root=base,
            items=items,
            labels=labels,
            splits=splits,
            options={
                "label": label,
                "pitch_range": list(pitch_range) if pitch_range is not None else None,
                "instrument_source": sorted(sources) if sources is not None else None,
                "instrument_family": sorted(families) if families is not None else None,
                "split_source": "split folder names",
            },
        )
