"""Atomic writes: whole files with the mode open() would give, fsynced before the rename, or nothing."""

from __future__ import annotations

import os
import stat

import pytest

from wavediff.files import atomic_write, remove_stale_temporaries, write_bytes_atomic, write_text_atomic


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


def test_replacing_a_file_keeps_its_mode_like_open(tmp_path):
    path = tmp_path / "shared.bin"
    path.write_bytes(b"old")
    path.chmod(0o664)
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o664


def test_the_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_bytes_atomic(tmp_path / "x.bin", b"data")
    assert events[:2] == ["fsync", "replace"]  # the file, then the rename (then the folder)
    assert "fsync" in events[2:]


def test_an_interrupted_write_leaves_a_temporary_that_the_cleanup_removes(tmp_path):
    path = tmp_path / "last.ckpt"
    with atomic_write(path) as handle:
        handle.write(b"checkpoint")
        (temporary,) = [p for p in tmp_path.iterdir() if p != path]
    assert temporary.name.startswith(".last.ckpt.") and temporary.name.endswith(".tmp")
    # a process killed before the rename leaves such a file behind
    temporary.write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == [temporary]
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"] and path.read_bytes() == b"checkpoint"


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(root) -> set[int]:
    return {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_every_writer_gives_the_open_mode(tmp_path, umask_022):
    """Corpus files, checkpoints (the Lightning callback path), noise analysis, audio and
    torch saves all get 0o644 under umask 022, not a temporary file's 0o600."""
    from wavediff.data import DemoCorpusConfig, write_demo_corpus
    from wavediff.eval.noise import analyze_noise, save_noise_analysis
    from wavediff.train.callbacks import AtomicCheckpointIO

    corpus = write_demo_corpus(tmp_path / "demo", DemoCorpusConfig(clips_per_class=1, clip_seconds=0.2))
    assert _modes(corpus) == {0o644} and len(list(corpus.rglob("*.wav"))) == 5

    AtomicCheckpointIO().save_checkpoint({"step": 1}, tmp_path / "ckpt" / "last.ckpt")
    assert _modes(tmp_path / "ckpt") == {0o644}

    outputs = save_noise_analysis(analyze_noise(corpus, max_clips=2), tmp_path / "noise")
    assert sorted(p.name for p in outputs) == ["noise_analysis.json", "noise_analysis.png"]
    assert _modes(tmp_path / "noise") == {0o644}
