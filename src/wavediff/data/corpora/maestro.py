"""MAESTRO: virtuoso piano performances with aligned MIDI, from the International Piano-e-Competition."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

from wavediff.data.corpora.base import AudioItem, CorpusIndex, CorpusReader
from wavediff.data.corpora.splits import canonical_split

__all__ = ["MAESTRO_LAYOUT", "MaestroReader"]

#: Expected on-disk layout (also shown in data/maestro/README.md).
MAESTRO_LAYOUT = """\
<root>/                        e.g. maestro-v3.0.0/
  maestro-v3.0.0.csv           one row per performance (any maestro-v*.csv); columns include
                               canonical_composer, canonical_title, split, year,
                               midi_filename, audio_filename, duration
  2004/
    <performance>.wav          audio_filename in the csv is relative to <root>, e.g. 2004/<performance>.wav
    <performance>.midi
    ...
  2006/
  ...
  2018/"""

_REQUIRED = ("split", "audio_filename")
_LABELS = (None, "composer", "year")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.stem))


class MaestroReader(CorpusReader):
    """Reads the MAESTRO metadata csv and the audio files it names.

    Splits come from the csv's ``split`` column (``validation`` becomes ``"valid"``).
    No labels by default; ``extra`` holds ``composer``, ``title``, ``year``, ``duration``
    (seconds) and ``midi_filename`` (relative to the root). Rows whose audio file is
    missing are skipped with one :class:`CorpusWarning`.
    """

    name = "maestro"
    layout = MAESTRO_LAYOUT
    description = "MAESTRO v3.0.0: about 200 h of solo piano performances with aligned MIDI, 44.1-48 kHz stereo"

    def index(
        self,
        root: str | os.PathLike[str],
        *,
        csv_file: str | os.PathLike[str] | None = None,
        label: str | None = None,
    ) -> CorpusIndex:
        """Index a MAESTRO folder.

        Args:
            root: the folder holding ``maestro-v*.csv`` and the year folders.
            csv_file: the metadata csv to use (relative to ``root`` or absolute); by
                default the ``maestro-v*.csv`` with the highest version.
            label: ``None`` (no labels), ``"composer"`` (``canonical_composer``) or
                ``"year"``; labels are sorted and define ``label_index``.

        Raises:
            CorpusLayoutError: the folder does not match :data:`MAESTRO_LAYOUT`.
        """
        if label not in _LABELS:
            raise ValueError(f"label must be one of {_LABELS}, got {label!r}")
        base = self.check_root(root)
        if csv_file is not None:
            meta = Path(csv_file) if Path(csv_file).is_absolute() else base / csv_file
            if not meta.is_file():
                raise self.error(base, f"the metadata csv {meta} does not exist")
        else:
            candidates = sorted(base.glob("maestro-v*.csv"), key=lambda p: (_version_key(p), p.name))
            if not candidates:
                raise self.error(base, "no maestro-v*.csv metadata file was found")
            meta = candidates[-1]

        with open(meta, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            lacking = [c for c in _REQUIRED if c not in columns]
            if lacking:
                raise self.error(base, f"{meta.name} has no column(s) {lacking} (columns: {columns})")
            rows = list(reader)

        records: list[tuple[AudioItem, str]] = []
        missing: list[str] = []
        for n, row in enumerate(rows, 2):
            rel = (row.get("audio_filename") or "").strip().replace("\\", "/")
            if not rel:
                raise self.error(base, f"{meta.name} line {n} has an empty audio_filename")
            try:
                split = canonical_split(row.get("split") or "")
            except ValueError:
                raise self.error(base, f"{meta.name} line {n} has an unknown split {row.get('split')!r}") from None
            path = base / rel
            if not path.is_file():
                missing.append(rel)
                continue
            extra: dict[str, Any] = {}
            if row.get("canonical_composer"):
                extra["composer"] = row["canonical_composer"]
            if row.get("canonical_title"):
                extra["title"] = row["canonical_title"]
            year = (row.get("year") or "").strip()
            if year:
                extra["year"] = int(year) if year.isdigit() else year
            duration = (row.get("duration") or "").strip()
            if duration:
                try:
                    extra["duration"] = float(duration)
                except ValueError:
                    pass
            if row.get("midi_filename"):
                extra["midi_filename"] = row["midi_filename"].replace("\\", "/")
            records.append((AudioItem(path=path, id=rel, extra=extra), split))

        if not records:
            if missing:
                raise self.error(base, f"none of the {len(missing)} audio files listed in {meta.name} exists")
            raise self.error(base, f"{meta.name} lists no performances")
        self.warn_skipped(missing, f"performance(s) listed in {meta.name} without an audio file")

        ids = [item.id for item, _ in records]
        if len(set(ids)) != len(ids):
            raise self.error(base, f"{meta.name} lists an audio_filename more than once")
        labels: list[str] = []
        if label is not None:
            field = "composer" if label == "composer" else "year"
            values = {it.id: str(it.extra.get(field, "unknown")) for it, _ in records}
            labels = sorted(set(values.values()))
            index = {v: i for i, v in enumerate(labels)}
            records = [
                (AudioItem(path=it.path, id=it.id, label=values[it.id], label_index=index[values[it.id]], extra=it.extra), s)
                for it, s in records
            ]
        records.sort(key=lambda r: r[0].id)
        splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
        for item, split in records:
            splits[split].append(item.id)
        return CorpusIndex(
            name=self.name,
            root=base,
            items=[item for item, _ in records],
            labels=labels,
            splits=splits,
            options={"csv_file": meta.name if meta.parent == base else os.fspath(meta), "label": label, "split_source": f"{meta.name} split column"},
        )
