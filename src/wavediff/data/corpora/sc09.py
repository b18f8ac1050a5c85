"""SC09: the spoken digits "zero" .. "nine" of the Speech Commands corpus."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from wavediff.data.corpora.base import AudioItem, CorpusIndex, CorpusReader, list_files

__all__ = ["SC09_DIGITS", "SC09_LAYOUT", "SC09Reader", "speech_commands_split"]

#: The ten words kept, in label-index order (zero = 0 ... nine = 9).
SC09_DIGITS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: Expected on-disk layout (also shown in data/sc09/README.md).
SC09_LAYOUT = """\
<root>/                        e.g. speech_commands_v0.02/
  zero/
    0a2b400e_nohash_0.wav      <speaker hash>_nohash_<repetition>.wav
    ...
  one/
  two/
  ...
  nine/
  validation_list.txt          optional: one relative path per line, e.g. zero/0a2b400e_nohash_0.wav
  testing_list.txt             optional: same format
  (other word folders and _background_noise_/ are ignored)"""

_MAX_PER_CLASS = 2**27 - 1  # constant of the corpus's documented hashing rule


def speech_commands_split(file_name: str, valid_percent: float = 10.0, test_percent: float = 10.0) -> str:
    """Split of a Speech Commands file by the rule documented with the corpus.

    The part of the name before ``_nohash_`` (the speaker) is hashed with SHA-1, so all
    recordings of one speaker land in the same split; the hash is mapped to a percentage
    in [0, 100] and compared with ``valid_percent`` and ``valid_percent + test_percent``.

    Returns:
        ``"valid"``, ``"test"`` or ``"train"``.
    """
    base = os.path.basename(file_name)
    speaker = base.split("_nohash_", 1)[0]
    value = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percent = (value % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    if percent < valid_percent:
        return "valid"
    if percent < valid_percent + test_percent:
        return "test"
    return "train"


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {
        line.strip().replace("\\", "/")
        for line in path.read_text("utf-8", errors="replace").splitlines()
        if line.strip()
    }


class SC09Reader(CorpusReader):
    """Reads the ten digit folders of a Speech Commands tree.

    Labels are the digit words in numeric order (``labels == list(SC09_DIGITS)``, so
    ``label_index`` is the digit's value); ``speaker`` is the hash before ``_nohash_``;
    ``extra`` holds ``word`` and ``repetition``.

    Splits: from the corpus's own ``validation_list.txt`` / ``testing_list.txt`` when
    present (everything not listed is train); otherwise by the corpus's hashing rule
    (:func:`speech_commands_split`), which keeps each speaker in one split.
    """

    name = "sc09"
    layout = SC09_LAYOUT
    description = "SC09: spoken digits zero..nine from Speech Commands, 1 s clips at 16 kHz"

    def index(
        self,
        root: str | os.PathLike[str],
        *,
        use_split_lists: bool = True,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
    ) -> CorpusIndex:
        """Index a Speech Commands folder, keeping the digits.

        Args:
            root: the folder holding ``zero/`` .. ``nine/``.
            use_split_lists: use ``validation_list.txt`` / ``testing_list.txt`` when present.
            valid_fraction: share of speakers in valid when the split is hashed.
            test_fraction: share of speakers in test when the split is hashed.

        Raises:
            CorpusLayoutError: the folder does not match :data:`SC09_LAYOUT`.
        """
        if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
            raise ValueError(f"invalid split fractions valid={valid_fraction}, test={test_fraction}")
        base = self.check_root(root)
        present_words = [w for w in SC09_DIGITS if (base / w).is_dir()]
        if not present_words:
            raise self.error(base, "none of the digit folders zero/ .. nine/ was found")

        items: list[AudioItem] = []
        for word in present_words:
            for name in sorted(list_files(base / word)):
                if not name.lower().endswith(".wav"):
                    continue
                stem = name[:-4]
                speaker, _, rep = stem.partition("_nohash_")
                extra: dict[str, object] = {"word": word}
                if rep.isdigit():
                    extra["repetition"] = int(rep)
                items.append(
                    AudioItem(
                        path=base / word / name,
                        id=f"{word}/{name}",
                        label=word,
                        label_index=SC09_DIGITS.index(word),
                        speaker=speaker,
                        extra=extra,
                    )
                )
        if not items:
            raise self.error(base, "the digit folders hold no .wav files")
        missing_words = [w for w in SC09_DIGITS if w not in present_words]
        if missing_words:
            self.warn(f"digit folder(s) {', '.join(w + '/' for w in missing_words)} are missing")
        items.sort(key=lambda it: it.id)

        valid_list = base / "validation_list.txt"
        test_list = base / "testing_list.txt"
        splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
        if use_split_lists and (valid_list.is_file() or test_list.is_file()):
            for path in (valid_list, test_list):
                if not path.is_file():
                    self.warn(f"{path.name} is missing; its split will be empty")
            valid_ids, test_ids = _read_list(valid_list), _read_list(test_list)
            for item in items:
                split = "valid" if item.id in valid_ids else "test" if item.id in test_ids else "train"
                splits[split].append(item.id)
            source = "validation_list.txt / testing_list.txt"
        else:
            for item in items:
                splits[speech_commands_split(item.id, 100 * valid_fraction, 100 * test_fraction)].append(item.id)
            source = "hash of the speaker (Speech Commands rule)"
        return CorpusIndex(
            name=self.name,
            root=base,
            items=items,
            labels=list(SC09_DIGITS),
            splits=splits,
            options={
                "use_split_lists": use_split_lists,
                "valid_fraction": valid_fraction,
                "test_fraction": test_fraction,
                "split_source": source,
            },
        )
