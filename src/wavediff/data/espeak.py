"""Speech corpus: sentences spoken by the ``espeak-ng`` synthesiser, rendered locally.

Each utterance is one sentence of a built-in list (:data:`SENTENCES`, or the config's
own) spoken by one espeak-ng voice at a speaking rate (words per minute) and a pitch
(espeak-ng's 0..99 scale, 50 = the voice's default). Voices are espeak-ng voice names
with an optional variant after ``+`` (``en-us``, ``en-gb-x-rp+f4``, ...); the voice is
the label. For every voice, utterance ``i`` walks through seeded shuffles of the
sentence list, so each voice speaks every sentence about equally often, and draws its
rate and pitch from its own generator seeded with ``(seed, crc32(voice), i)``.

Processing: ``espeak-ng -w`` writes a wav into a temporary folder; it is loaded,
resampled to ``sample_rate`` with soxr, trimmed of leading and trailing silence
(frames more than ``trim_db`` below the loudest, with ``pad_seconds`` kept on each
side and 5 ms fades), and peak-normalised to ``peak``. Clips have the length of the
utterance.

espeak-ng quirks handled here: an unknown voice name may fall back to another voice
without an error, and a variant is ignored for some voice names (``en-gb+f2`` sounds
exactly like ``en-gb``), which would give two labels for one voice. Before writing,
every voice speaks a probe sentence; identical renders from two voices are refused
with a message naming them.

On disk (:func:`write_espeak_corpus`) the corpus uses the generic folder layout
(:mod:`wavediff.data.corpus_writer`)::

    out_dir/<voice>/<id>.wav     16-bit PCM, mono
    out_dir/metadata.csv         path,label,label_index,voice,rate,pitch,text,duration_s
    out_dir/split.json           {"train": [...], "valid": [...], "test": [...]}
    out_dir/corpus.json          the config and the espeak-ng version

Writing the same config with the same espeak-ng version twice gives byte-identical
folders.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from wavediff.data.corpus_writer import PlannedClip, write_corpus
from wavediff.data.synthesis import label_key, raised_cosine_ramp

__all__ = [
    "DEFAULT_VOICES",
    "ESPEAK_INSTALL_HINT",
    "EspeakCorpusConfig",
    "EspeakError",
    "SENTENCES",
    "espeak_available",
    "write_espeak_corpus",
]

_CORPUS_FORMAT = "wavediff-espeak-corpus"
_CORPUS_VERSION = 1
_EXECUTABLE = "espeak-ng"
_PROBE_TEXT = "Seven bright kites drift over the harbour."

#: The command that installs the synthesiser on Debian/Ubuntu.
ESPEAK_INSTALL_HINT = "apt-get update && apt-get install -y espeak-ng"

#: Default voices: American, British (received pronunciation), Scottish, Caribbean and
#: New York accents, male and female variants; all render distinctly with espeak-ng 1.51.
DEFAULT_VOICES: tuple[str, ...] = (
    "en-us",
    "en-us+f2",
    "en-gb-x-rp",
    "en-gb-x-rp+f4",
    "en-gb-scotland+m3",
    "en-029+m1",
    "en-us-nyc+f3",
)

#: Built-in sentences: statements, questions, exclamations, lists, numbers and dates,
#: short and long, so that rhythm and intonation vary.
SENTENCES: tuple[str, ...] = (
    "The kettle clicked off just as the rain began to tap on the kitchen window.",
    "Could you pass me the blue folder on the second shelf?",
    "We missed the last ferry, so we walked along the harbour until midnight.",
    "Turn left at the old mill, then follow the river for about two miles.",
    "Nobody expected the small orchestra to fill the whole cathedral with sound.",
    "Is this the train that stops at every village on the coast?",
    "Fresh bread, three lemons, a jar of honey and some strong coffee, please.",
    "The meeting has been moved to Thursday at half past four.",
    "What a wonderful surprise to see you here after all these years!",
    "Her grandfather repaired clocks in a narrow shop near the station.",
    "If the bridge is closed, we will have to take the long road over the hills.",
    "Seventeen owls were counted in the forest during the winter survey.",
    "Please keep your ticket until you leave the platform.",
    "Why does the cat always sit on the one page I am trying to read?",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "A cold wind swept across the empty beach, scattering the gulls.",
    "I honestly thought the museum would be open on a Monday.",
    "Measure twice and cut once, my teacher used to say.",
    "The spacecraft sent back pictures of a pale, cratered moon.",
    "Quick, close the gate before the goats get into the garden!",
    "On the fifth of March, the library will celebrate its hundredth birthday.",
    "He painted the fence green, but the neighbours preferred it white.",
    "Do you remember the name of the song they played at the wedding?",
    "The valley was quiet except for the distant sound of a tractor.",
    "Our flight leaves at six fifteen, so we should be at the airport by four.",
    "Every autumn the maple trees along the avenue turn a brilliant red.",
    "She solved the puzzle in less than a minute and asked for a harder one.",
    "Be careful, the paint on the railing is still wet.",
    "The lighthouse keeper wrote a letter to his sister every single week.",
    "How many languages do you think are spoken in this city?",
    "Thunder rolled over the mountains while we waited in the small hut.",
    "The bakery on the corner sells the best cinnamon rolls in town.",
    "After the concert, the crowd spilled out onto the warm summer street.",
    "Water boils at one hundred degrees at sea level.",
    "They built a raft from driftwood and sailed it across the lake.",
    "Would you rather climb the tower or explore the caves beneath it?",
    "The old radio crackled, and then a voice began to read the news.",
    "My brother planted tomatoes, beans and sunflowers in the back yard.",
    "Silence fell as the judge stood up to announce the winner.",
    "It took us nearly three hours to find a parking space near the stadium.",
    "Listen carefully, because I will only explain the rules once.",
    "The fox slipped under the hedge and vanished into the tall grass.",
)

_VOICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class EspeakError(RuntimeError):
    """espeak-ng is missing, failed, timed out or produced unusable audio."""


# --------------------------------------------------------------------------- the tool


def _find_espeak() -> str | None:
    """Full path of the espeak-ng executable, or None when it is not on PATH."""
    return shutil.which(_EXECUTABLE)


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` command-line tool is installed (on PATH)."""
    return _find_espeak() is not None


def _require_espeak() -> str:
    exe = _find_espeak()
    if exe is None:
        raise EspeakError(
            f"the {_EXECUTABLE} command-line tool was not found on PATH; the speech corpus "
            f"is rendered with it. Install it with: {ESPEAK_INSTALL_HINT}"
        )
    return exe


def _run(args: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise EspeakError(f"{what}: {_EXECUTABLE} did not finish within {timeout_s:g} s ({args})") from err
    except OSError as err:
        raise EspeakError(f"{what}: cannot run {args[0]} ({err})") from err
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip() or "no message"
        raise EspeakError(f"{what}: {_EXECUTABLE} exited with status {proc.returncode}: {detail} ({args})")
    return proc


def _espeak_version(exe: str, timeout_s: float) -> str:
    """Version string, e.g. ``"1.51"`` (first line of ``espeak-ng --version``)."""
    out = _run([exe, "--version"], timeout_s, "version query").stdout.decode("utf-8", "replace")
    match = re.search(r"text-to-speech:\s*(\S+)", out)
    return match.group(1) if match else out.strip().splitlines()[0] if out.strip() else "unknown"


def _speak(
    exe: str, text: str, voice: str, rate: int, pitch: int, workdir: Path, timeout_s: float
) -> tuple[np.ndarray, int]:
    """Speak ``text``; returns float64 audio ``(samples,)`` in [-1, 1] and its rate in Hz."""
    wav = workdir / "utterance.wav"
    if wav.exists():
        wav.unlink()
    args = [exe, "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(wav), text]
    _run(args, timeout_s, f"voice {voice!r}, rate {rate}, pitch {pitch}, text {text[:40]!r}")
    try:
        audio, sr = sf.read(wav, dtype="float64", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        raise EspeakError(f"voice {voice!r}: {_EXECUTABLE} wrote no readable wav ({err})") from err
    return audio.mean(axis=1), int(sr)


# --------------------------------------------------------------------------- processing


def _trim(audio: np.ndarray, sr: int, top_db: float, pad_s: float) -> np.ndarray:
    """Cut leading/trailing frames more than ``top_db`` below the loudest 10 ms frame,
    keeping ``pad_s`` seconds on each side, with 5 ms raised-cosine fades."""
    hop = max(1, int(round(0.010 * sr)))
    n_frames = int(np.ceil(audio.shape[0] / hop))
    padded = np.pad(audio, (0, n_frames * hop - audio.shape[0]))
    energy = np.mean(padded.reshape(n_frames, hop) ** 2, axis=1)
    level = 10.0 * np.log10(energy + 1e-20)
    loud = np.flatnonzero(level > level.max() - top_db)
    if loud.size == 0:
        return audio[:0]
    pad = int(round(pad_s * sr))
    start = max(0, loud[0] * hop - pad)
    stop = min(audio.shape[0], (loud[-1] + 1) * hop + pad)
    out = audio[start:stop].copy()
    n_fade = min(int(round(0.005 * sr)), out.shape[0] // 2)
    if n_fade > 0:
        ramp = raised_cosine_ramp(n_fade)
        out[:n_fade] *= ramp
        out[-n_fade:] *= ramp[::-1]
    return out


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class EspeakCorpusConfig:
    """What to speak.

    Attributes:
        sample_rate: output rate in Hz (integer >= 8000); espeak-ng speaks at 22050 Hz
            and is resampled with soxr when this differs.
        voices: espeak-ng voice names, optionally with a ``+variant``; each is a label
            and a folder name (letters, digits, ``_ . + -``). Their order defines
            ``label_index``.
        utterances_per_voice: clips per voice (>= 1).
        rates: speaking rates in words per minute (80..450) drawn from per utterance.
        pitches: espeak-ng pitches (0..99, 50 = the voice's default) drawn from.
        sentences: texts to speak; ``None`` uses :data:`SENTENCES`.
        trim_db: silence threshold for trimming, in dB below the loudest frame.
        pad_seconds: silence kept before the first and after the last loud frame.
        peak: peak level after normalisation, in (0, 1).
        seed: non-negative integer; the choice of (sentence, rate, pitch) per utterance
            and the split are functions of it.
        timeout_s: seconds each espeak-ng call may take (not part of the corpus
            identity: it is not recorded in ``corpus.json``).
        held_out_voices: voices (of ``voices``) that never reach the train split.
        held_out_sentences: the last this many sentences of :attr:`texts` never reach the
            train split. With either set, the split is: ``train`` = clips of other voices
            and other sentences, ``valid`` = held-out voices speaking held-out sentences
            (unseen speaker and text: what a vocoder is evaluated on), ``test`` = the rest.
            With neither, the split is seeded and stratified by voice.
    """

    sample_rate: int = 22050
    voices: tuple[str, ...] = field(default=DEFAULT_VOICES)
    utterances_per_voice: int = 30
    rates: tuple[int, ...] = (130, 150, 170, 190)
    pitches: tuple[int, ...] = (35, 45, 55, 65)
    sentences: tuple[str, ...] | None = None
    trim_db: float = 40.0
    pad_seconds: float = 0.05
    peak: float = 0.9
    seed: int = 0
    timeout_s: float = 30.0
    held_out_voices: tuple[str, ...] = ()
    held_out_sentences: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "voices", tuple(self.voices))
        object.__setattr__(self, "held_out_voices", tuple(self.held_out_voices))
        unknown = [v for v in self.held_out_voices if v not in self.voices]
        if unknown:
            raise ValueError(f"held_out_voices {unknown} are not among the voices {list(self.voices)}")
        if len(self.held_out_voices) >= len(self.voices):
            raise ValueError("held_out_voices must leave at least one voice for training")
        object.__setattr__(self, "rates", tuple(int(r) for r in self.rates))
        object.__setattr__(self, "pitches", tuple(int(p) for p in self.pitches))
        if int(self.sample_rate) != self.sample_rate or self.sample_rate < 8000:
            raise ValueError(f"sample_rate must be an integer >= 8000 Hz, got {self.sample_rate}")
        if not self.voices:
            raise ValueError("voices must not be empty")
        bad = [v for v in self.voices if not isinstance(v, str) or not _VOICE_RE.match(v)]
        if bad:
            raise ValueError(
                f"voice names {bad} cannot be labels/folder names; use letters, digits and _ . + - "
                "(e.g. 'en-us', 'en-gb-x-rp+f4')"
            )
        if len(set(self.voices)) != len(self.voices):
            raise ValueError(f"duplicate voices in {self.voices}")
        if int(self.utterances_per_voice) != self.utterances_per_voice or self.utterances_per_voice < 1:
            raise ValueError(f"utterances_per_voice must be a positive integer, got {self.utterances_per_voice}")
        if not self.rates or any(not 80 <= r <= 450 for r in self.rates):
            raise ValueError(f"rates must be a non-empty list of words per minute in 80..450, got {self.rates}")
        if not self.pitches or any(not 0 <= p <= 99 for p in self.pitches):
            raise ValueError(f"pitches must be a non-empty list in 0..99, got {self.pitches}")
        if self.sentences is not None:
            sentences = tuple(" ".join(str(s).split()) for s in self.sentences)
            if not sentences or any(not s for s in sentences):
                raise ValueError("sentences must be a non-empty list of non-empty texts")
            if any(s.startswith("-") for s in sentences):
                raise ValueError("a sentence must not start with '-' (espeak-ng would read it as an option)")
            object.__setattr__(self, "sentences", sentences)
        if not self.trim_db > 0:
            raise ValueError(f"trim_db must be > 0, got {self.trim_db}")
        if not self.pad_seconds >= 0:
            raise ValueError(f"pad_seconds must be >= 0, got {self.pad_seconds}")
        if not 0.0 < self.peak < 1.0:
            raise ValueError(f"peak must be in (0, 1), got {self.peak}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        count = self.held_out_sentences
        if isinstance(count, bool) or int(count) != count or not 0 <= count < len(self.texts):
            raise ValueError(f"held_out_sentences must be an integer in 0..{len(self.texts) - 1} "
                             f"(fewer than the {len(self.texts)} sentences), got {count}")

    @property
    def texts(self) -> tuple[str, ...]:
        """The sentences spoken (``sentences`` or :data:`SENTENCES`)."""
        return self.sentences if self.sentences is not None else SENTENCES

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples as lists). The held-out settings appear only when set,
        so corpora written before they existed keep their identity."""
        d = asdict(self)
        for key in ("voices", "rates", "pitches", "sentences", "held_out_voices"):
            if d[key] is not None:
                d[key] = list(d[key])
        if not d["held_out_voices"] and not d["held_out_sentences"]:
            del d["held_out_voices"], d["held_out_sentences"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EspeakCorpusConfig":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("voices", "rates", "pitches", "sentences", "held_out_voices"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def _plan(cfg: EspeakCorpusConfig) -> list[PlannedClip]:
    texts = cfg.texts
    plan: list[PlannedClip] = []
    for voice in cfg.voices:
        key = label_key(voice)
        order_rng = np.random.default_rng([cfg.seed, key, 1])
        order: list[int] = []
        while len(order) < cfg.utterances_per_voice:
            order.extend(int(i) for i in order_rng.permutation(len(texts)))
        stem = re.sub(r"[^A-Za-z0-9]+", "_", voice)
        for i in range(cfg.utterances_per_voice):
            rng = np.random.default_rng([cfg.seed, key, 0, i])
            rate = int(cfg.rates[int(rng.integers(len(cfg.rates)))])
            pitch = int(cfg.pitches[int(rng.integers(len(cfg.pitches)))])
            plan.append(
                PlannedClip(
                    label=voice,
                    id=f"{stem}_{i:04d}",
                    meta={"voice": voice, "rate": rate, "pitch": pitch, "text": texts[order[i]]},
                )
            )
    return plan


def _held_out_split(cfg: EspeakCorpusConfig, clips: list[PlannedClip]) -> dict[str, list[str]]:
    """Train on seen voices and sentences, validate on unseen voices speaking unseen sentences."""
    texts = cfg.texts
    unseen_texts = set(texts[len(texts) - cfg.held_out_sentences :]) if cfg.held_out_sentences else set()
    split: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for clip in clips:
        new_voice = clip.meta["voice"] in cfg.held_out_voices
        new_text = clip.meta["text"] in unseen_texts
        part = "train" if not (new_voice or new_text) else "valid" if (new_voice and new_text) else "test"
        split[part].append(clip.relpath)
    if not split["valid"]:
        # too few utterances for a held-out voice to meet a held-out sentence: unseen voices alone
        split["valid"] = [c for c in split["test"] if Path(c).parts[0] in cfg.held_out_voices] or split["test"]
        split["test"] = [c for c in split["test"] if c not in set(split["valid"])]
    return {k: sorted(v) for k, v in split.items()}


# --------------------------------------------------------------------------- corpus


def write_espeak_corpus(
    out_dir: str | os.PathLike[str], cfg: EspeakCorpusConfig | None = None, overwrite: bool = False
) -> Path:
    """Speak the sentences with espeak-ng and write them in the generic folder layout.

    Writes ``out_dir/<voice>/<id>.wav`` (mono 16-bit PCM at ``cfg.sample_rate``, one
    utterance each, trimmed), ``out_dir/metadata.csv`` (path, label, label_index,
    voice, rate, pitch, text, duration_s; paths relative to ``out_dir``),
    ``out_dir/split.json`` (stratified by voice, seeded) and ``out_dir/corpus.json``
    (config and espeak-ng version). Every file is written atomically; writing the same
    config again leaves the folder byte-identical. Ids are ``<voice>_<index:04d>`` with
    every run of characters other than letters and digits in the voice replaced by ``_``.

    Args:
        out_dir: target folder, created if missing.
        cfg: what to speak; ``None`` means ``EspeakCorpusConfig()``.
        overwrite: replace a folder that holds a different corpus or other
            ``<subdir>/*.wav`` files (stale wavs are deleted, other files kept).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        EspeakError: espeak-ng is not installed (the message gives the apt command), a
            call failed or timed out, two voices render identically, or an utterance is
            silent.
        wavediff.data.CorpusExistsError: ``out_dir`` holds a different corpus and
            ``overwrite`` is False.
    """
    cfg = cfg or EspeakCorpusConfig()
    exe = _require_espeak()
    config = cfg.to_dict()
    del config["timeout_s"]
    manifest = {
        "format": _CORPUS_FORMAT,
        "version": _CORPUS_VERSION,
        "config": config,
        "espeak_ng_version": _espeak_version(exe, cfg.timeout_s),
    }
    plan = _plan(cfg)
    with tempfile.TemporaryDirectory(prefix="wavediff-espeak-") as tmp:
        workdir = Path(tmp)

        def probe_voices() -> None:
            seen: dict[bytes, str] = {}
            for voice in cfg.voices:
                audio, _ = _speak(exe, _PROBE_TEXT, voice, 160, 50, workdir, cfg.timeout_s)
                digest = audio.astype(np.float32).tobytes()
                if digest in seen:
                    raise EspeakError(
                        f"voices {seen[digest]!r} and {voice!r} sound identical with this "
                        f"{_EXECUTABLE}: the name or variant is not recognised (a variant is "
                        "ignored for some voice names, e.g. en-gb+f2; en-gb-x-rp+f2 works). "
                        f"List voices with `{_EXECUTABLE} --voices=en` and variants with "
                        f"`{_EXECUTABLE} --voices=variant`."
                    )
                seen[digest] = voice

        def render(clip: PlannedClip) -> np.ndarray:
            m = clip.meta
            audio, sr = _speak(exe, m["text"], m["voice"], m["rate"], m["pitch"], workdir, cfg.timeout_s)
            if sr != cfg.sample_rate:
                import soxr

                audio = soxr.resample(audio, sr, cfg.sample_rate, quality="HQ")
            audio = _trim(audio, cfg.sample_rate, cfg.trim_db, cfg.pad_seconds)
            top = float(np.max(np.abs(audio))) if audio.size else 0.0
            if top < 1e-4:
                raise EspeakError(f"{clip.id}: {_EXECUTABLE} produced silence for {m['text']!r} ({m['voice']})")
            return (audio * (cfg.peak / top)).astype(np.float32)

        columns = ("voice", "rate", "pitch", "text", "duration_s")
        write_corpus(
            out_dir,
            manifest,
            plan,
            render,
            cfg.sample_rate,
            columns,
            seed=cfg.seed,
            overwrite=overwrite,
            before_render=probe_voices,
            split_clips=(lambda clips: _held_out_split(cfg, clips))
            if cfg.held_out_voices or cfg.held_out_sentences else None,
        )
    return Path(out_dir)

