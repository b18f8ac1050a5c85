"""``wavediff vocode`` never writes over an input or an existing output, gives colliding
names their own outputs, vocodes every good file of a folder and names every bad one, and
refuses bad options and unwritable folders before doing the work."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import soundfile as sf

from wavediff.cli import main
from wavediff.vocoder import Vocoder

pytestmark = pytest.mark.usefixtures("one_thread")


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def inputs(tmp_path, tiny_vocoder_run):
    """A folder with x.wav, x.flac and x.npy (one name, three inputs) and y.wav."""
    wav = next(tiny_vocoder_run["demo"].rglob("*.wav"))
    audio, sr = sf.read(wav)
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "x.wav", audio, sr)
    sf.write(folder / "x.flac", audio, sr)
    sf.write(folder / "y.wav", audio[: len(audio) // 2], sr)
    voc = Vocoder.from_checkpoint(tiny_vocoder_run["ckpt"])
    import torch

    np.save(folder / "x.npy", voc.mel(torch.as_tensor(audio, dtype=torch.float32)[None])[0].numpy())
    return {"folder": folder, "ckpt": tiny_vocoder_run["ckpt"], "sr": sr, "audio": audio}


def _bytes(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_colliding_names_get_their_own_outputs(tmp_path, capsys, inputs):
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, "vocode", inputs["ckpt"], inputs["folder"], "--steps", "1", "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["x.flac.wav", "x.npy.wav", "x.wav.wav", "y.wav"]
    assert "4 of 4 file(s) vocoded" in stdout
    # again: the outputs exist, refused without --overwrite, replaced with it
    before = _bytes(out)
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], inputs["folder"], "--steps", "1", "--out", out)
    assert code == 2 and "--overwrite" in err and _bytes(out) == before
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], inputs["folder"], "--steps", "1", "--out", out,
                        "--overwrite")
    assert code == 0, err


def test_outputs_never_replace_inputs(tmp_path, capsys, inputs):
    folder = inputs["folder"]
    before = _bytes(folder)
    for out in (folder, folder / "sub"):
        code, _, err = _cli(capsys, "vocode", inputs["ckpt"], folder, "--steps", "1", "--out", out)
        assert code == 2 and "inside the input folder" in err
    x = folder / "x.wav"
    for extra in ([], ["--overwrite"]):
        code, _, err = _cli(capsys, "vocode", inputs["ckpt"], x, "--steps", "1", "--out", x, *extra)
        assert code == 2 and "is the input file" in err
    assert _bytes(folder) == before


def test_single_file_outputs(tmp_path, capsys, inputs):
    x = inputs["folder"] / "x.wav"
    target = tmp_path / "o.wav"
    target.write_bytes(b"keep me")
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], x, "--steps", "1", "--out", target)
    assert code == 2 and "--overwrite" in err and target.read_bytes() == b"keep me"
    folder = tmp_path / "dir"
    folder.mkdir()
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], x, "--steps", "1", "--out", folder)
    assert code == 0 and (folder / "x.wav").is_file(), err  # a folder as --out: the file goes inside
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], x, "--steps", "1", "--out", tmp_path / "o.mp3")
    assert code == 2 and ".wav or .flac" in err


def test_a_folder_with_bad_files_vocodes_the_good_ones_and_names_the_bad(tmp_path, capsys, inputs):
    folder = inputs["folder"]
    (folder / "noise.wav").write_bytes(os.urandom(2000))
    sf.write(folder / "short.wav", inputs["audio"][:10], inputs["sr"])
    np.save(folder / "bins.npy", np.zeros((7, 20), dtype=np.float32))
    np.save(folder / "complex.npy", np.zeros((80, 20), dtype=np.complex64))
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, "vocode", inputs["ckpt"], folder, "--steps", "1", "--out", out)
    assert code == 2
    assert "4 of 8 file(s) vocoded" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["x.flac.wav", "x.npy.wav", "x.wav.wav", "y.wav"]
    lines = [line for line in err.splitlines() if line.startswith("wavediff: error: ")]
    for name in ("noise.wav", "short.wav", "bins.npy", "complex.npy"):
        assert sum(str(folder / name) in line for line in lines) == 1, (name, err)
    assert "complex" in err and "4 file(s) could not be vocoded" in err


def test_a_bad_single_input_names_the_file(tmp_path, capsys, inputs):
    short = tmp_path / "short.wav"
    sf.write(short, inputs["audio"][:10], inputs["sr"])
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], short, "--out", tmp_path / "o.wav")
    assert code == 2 and str(short) in err and "too short" in err


@pytest.mark.parametrize("value", ["0", "-1"])
def test_chunk_seconds_must_be_positive(capsys, inputs, value):
    with pytest.raises(SystemExit) as exit_:
        main(["vocode", str(inputs["ckpt"]), str(inputs["folder"]), "--chunk-seconds", value])
    assert exit_.value.code == 2 and "positive" in capsys.readouterr().err


def test_an_unwritable_or_full_output_is_a_message_before_or_without_damage(tmp_path, capsys, inputs, monkeypatch):
    import wavediff.vocode_outputs as vo

    def no_write(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(vo.tempfile, "mkstemp", no_write)
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], inputs["folder"], "--out", tmp_path / "ro")
    assert code == 2 and "not writable" in err
    monkeypatch.undo()

    import wavediff.audio.io as audio_io

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x.wav"))

    monkeypatch.setattr(audio_io.sf, "write", full)
    code, _, err = _cli(capsys, "vocode", inputs["ckpt"], inputs["folder"] / "x.wav", "--steps", "1",
                        "--out", tmp_path / "full.wav")
    assert code == 2 and "no space left" in err and "Traceback" not in err
    assert not (tmp_path / "full.wav").exists()


def test_a_truncated_wav_is_read_with_a_warning(tmp_path, inputs):
    from wavediff.audio.io import load_audio
    from wavediff.audio.wav_integrity import TruncatedAudioWarning, wav_shortfall

    whole = inputs["folder"] / "x.wav"
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) - 1000])
    assert wav_shortfall(whole) is None
    declared, present = wav_shortfall(cut)
    assert declared == len(inputs["audio"]) and present == declared - 500  # 16-bit mono: 2 bytes a sample
    with pytest.warns(TruncatedAudioWarning, match="truncated"):
        audio, _ = load_audio(cut)
    assert audio.shape[-1] == present
