"""LJ Speech: one English speaker reading passages from non-fiction books, with transcripts."""

from __future__ import annotations

import os

from wavediff.data.corpora.base import AudioItem, CorpusIndex, CorpusReader, list_files
from wavediff.data.corpora.splits import hash_split

__all__ = ["LJSPEECH_LAYOUT", "LJSpeechReader"]

#: Expected on-disk layout (also shown in data/ljspeech/README.md).
LJSPEECH_LAYOUT = """\
<root>/                        e.g. LJSpeech-1.1/
  metadata.csv                 LJ001-0001|raw text|normalized text   (one clip per line, no header)
  wavs/
    LJ001-0001.wav
    LJ001-0002.wav
    ..."""


class LJSpeechReader(CorpusReader):
    """Reads ``metadata.csv`` (``id|text|normalized_text``) and ``wavs/<id>.wav``.

    Items carry the normalized transcript as ``text`` (the raw one in
    ``extra["raw_text"]``); there are no labels and no speaker. Clips listed in
    ``metadata.csv`` without a wav file are skipped with one :class:`CorpusWarning`.
    The split is a hash split on the clip id (``LJ001-0001``), see
    :func:`~wavediff.data.corpora.splits.hash_split`.
    """

    name = "ljspeech"
    layout = LJSPEECH_LAYOUT
    description = "LJ Speech 1.1: 13,100 clips (about 24 h) of one English speaker, 22.05 kHz, with transcripts"

    def index(
        self,
        root: str | os.PathLike[str],
        *,
        valid_fraction: float = 0.01,
        test_fraction: float = 0.01,
        seed: int = 0,
    ) -> CorpusIndex:
        """Index an LJ Speech folder.

        Args:
            root: the folder holding ``metadata.csv`` and ``wavs/``.
            valid_fraction: share of clips (by id hash) in the validation split.
            test_fraction: share of clips in the test split.
            seed: changes which clips the hash split picks.

        Raises:
            CorpusLayoutError: the folder does not match :data:`LJSPEECH_LAYOUT`.
        """
        base = self.check_root(root)
        meta = base / "metadata.csv"
        wav_dir = base / "wavs"
        if not meta.is_file():
            raise self.error(base, "metadata.csv is missing")
        if not wav_dir.is_dir():
            raise self.error(base, "the wavs/ folder is missing")
        present = list_files(wav_dir)

        items: list[AudioItem] = []
        keys: dict[str, str] = {}
        missing: list[str] = []
        seen: set[str] = set()
        with open(meta, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("|", 2)
                clip = fields[0].strip()
                if len(fields) < 2 or not clip:
                    raise self.error(base, f"metadata.csv line {lineno} is not 'id|text|normalized_text': {line[:80]!r}")
                if clip in seen:
                    raise self.error(base, f"metadata.csv lists clip {clip!r} twice (line {lineno})")
                seen.add(clip)
                raw = fields[1].strip()
                normalized = fields[2].strip() if len(fields) == 3 and fields[2].strip() else raw
                file_name = f"{clip}.wav"
                if file_name not in present:
                    missing.append(clip)
                    continue
                item_id = f"wavs/{file_name}"
                items.append(AudioItem(path=wav_dir / file_name, id=item_id, text=normalized, extra={"raw_text": raw}))
                keys[item_id] = clip

        if not items:
            if missing:
                raise self.error(base, f"none of the {len(missing)} clips listed in metadata.csv has a file in wavs/")
            raise self.error(base, "metadata.csv lists no clips")
        self.warn_skipped(missing, "clip(s) listed in metadata.csv without a file in wavs/")
        items.sort(key=lambda it: it.id)
        splits = hash_split(keys, valid_fraction, test_fraction, seed=seed)
        return CorpusIndex(
            name=self.name,
            root=base,
            items=items,
            labels=[],
            splits=splits,
            options={
                "valid_fraction": valid_fraction,
                "test_fraction": test_fraction,
                "seed": seed,
                "split_source": "hash of the clip id",
            },
        )
