"""Atomic text writes: whole files in UTF-8 with the mode open() would give, or nothing."""

from __future__ import annotations

import os
import stat

import pytest

from wavediff.files import write_text_atomic


def test_writes_utf8_with_the_umask_mode(tmp_path):
    path = tmp_path / "sub" / "report.md"
    previous = os.umask(0o027)
    try:
        write_text_atomic(path, "fd_mel ↓ 27\n")
    finally:
        os.umask(previous)
    assert path.read_text(encoding="utf-8") == "fd_mel ↓ 27\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        write_text_atomic(path, None)  # type: ignore[arg-type]
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["recipe.yaml"]
