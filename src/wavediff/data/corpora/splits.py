"""Train/valid/test splits of a corpus: split names, split files and hash splits.

* :data:`SPLITS` are the split names, in this order everywhere; :func:`canonical_split`
  maps the common aliases (``"validation"``, ``"dev"``, ...) to them.
* :func:`read_split` reads a ``split.json`` (``{"train": [relpaths], ...}``), the format
  :meth:`~wavediff.data.corpora.base.CorpusIndex.write_split` writes.
* Splits that are not given by the corpus itself are drawn by :func:`hash_split` (SHA-256
  of a key and a seed), never by Python's salted ``hash()`` or an unseeded generator, so
  they are the same on every machine and an item keeps its split when other files are
  added.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping

__all__ = ["SPLITS", "canonical_split", "hash_split", "read_split", "unit_hash"]

#: Split names, in this order everywhere.
SPLITS: tuple[str, ...] = ("train", "valid", "test")

_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "dev": "valid",
    "test": "test",
    "testing": "test",
}


def canonical_split(name: str) -> str:
    """Map a split name or a common alias (``"validation"``, ``"val"``, ``"dev"``,
    ``"training"``, ``"testing"``) to one of :data:`SPLITS`.

    Raises:
        ValueError: the name is not a known split.
    """
    key = str(name).strip().lower()
    if key not in _SPLIT_ALIASES:
        raise ValueError(f"unknown split {name!r}; expected one of {list(SPLITS)}")
    return _SPLIT_ALIASES[key]


# ---------------------------------------------------------------------- split files


def _normalise_relpath(p: str) -> str:
    p = str(p).replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def read_split(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read a split file ``{"train": [relpaths], "valid": [...], "test": [...]}``.

    Keys may use the aliases of :func:`canonical_split`; a missing key means an empty split.
    Paths are normalised to ``/`` separators without a leading ``./``.

    Raises:
        ValueError: the file is not such a JSON object.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text("utf-8"))
    except ValueError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object with keys {list(SPLITS)}")
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for key, members in data.items():
        try:
            split = canonical_split(key)
        except ValueError:
            raise ValueError(f"{p}: unknown split {key!r}; expected keys {list(SPLITS)}") from None
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ValueError(f"{p}: split {key!r} must be a list of relative paths")
        out[split].extend(_normalise_relpath(m) for m in members)
    return out


# ---------------------------------------------------------------------- hashing


def unit_hash(key: str, seed: int = 0) -> float:
    """A number in [0, 1) that depends only on ``key`` and ``seed`` (SHA-256 based)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _check_fractions(valid_fraction: float, test_fraction: float) -> None:
    if not (0.0 <= valid_fraction < 1.0 and 0.0 <= test_fraction < 1.0):
        raise ValueError(f"split fractions must lie in [0, 1), got valid={valid_fraction}, test={test_fraction}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(f"valid_fraction + test_fraction must be < 1, got {valid_fraction + test_fraction}")


def hash_split(
    keys: Mapping[str, str],
    valid_fraction: float,
    test_fraction: float,
    *,
    seed: int = 0,
    groups: Mapping[str, str | None] | None = None,
) -> dict[str, list[str]]:
    """Deterministic split of item ids by hashing.

    Each id gets ``u = unit_hash(keys[id], seed)``; ``u < test_fraction`` goes to test,
    ``u < test_fraction + valid_fraction`` to valid, the rest to train. The decision for
    one item depends on nothing else, so adding or removing files never moves an existing
    item. Items with the same key always share a split.

    ``groups`` (id -> group name, e.g. label or speaker) adds one guarantee for small
    groups: a group of at least 3 items that got no valid (test) item although the
    fraction is positive gives its train item with the smallest ``u`` to valid (test),
    as long as train keeps at least one item of the group. Only such a group can see an
    item move when files are added. Without ``groups`` the whole corpus is one group.

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}`` of sorted ids.
    """
    _check_fractions(valid_fraction, test_fraction)
    u = {i: unit_hash(k, seed) for i, k in keys.items()}
    assigned: dict[str, str] = {}
    for i, x in u.items():
        assigned[i] = "test" if x < test_fraction else "valid" if x < test_fraction + valid_fraction else "train"
    members: dict[str | None, list[str]] = {}
    for i in u:
        members.setdefault(groups.get(i) if groups is not None else None, []).append(i)
    for ids in members.values():
        if len(ids) < 3:
            continue
        for split, fraction in (("valid", valid_fraction), ("test", test_fraction)):
            if fraction <= 0 or any(assigned[i] == split for i in ids):
                continue
            train = sorted((i for i in ids if assigned[i] == "train"), key=lambda i: (u[i], i))
            if len(train) > 1:
                assigned[train[0]] = split
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i, split in assigned.items():
        out[split].append(i)
    return {s: sorted(v) for s, v in out.items()}
