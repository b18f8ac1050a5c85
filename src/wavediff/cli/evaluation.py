"""``wavediff demo``, ``evaluate``, ``gallery`` and ``analyze-noise``: measuring, listening and
looking."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_command, int_list


def _run_demo(args: argparse.Namespace) -> int:
    if args.task == "vocoder":
        from ..eval.demo_vocoder import run_vocoder_demo

        if args.model is not None:
            raise ValueError("--model chooses the music demo's teacher; the vocoder demo trains the "
                             "demo-vocoder recipe's network (drop --model, or add --task music)")
        run_vocoder_demo(args.out or Path("demo-vocoder-out"), device=args.device, minutes=args.minutes,
                         num_clips=args.clips or 8)
        return 0
    from ..eval.demo import run_demo

    run_demo(args.out or Path("demo-out"), device=args.device, minutes=args.minutes, num_clips=args.clips or 32,
             model=args.model)
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..eval.evaluate import EvalOptions, evaluate

    opts = EvalOptions(
        steps=args.steps, methods=args.methods.split(",") if args.methods else None, num=args.num,
        seconds=args.seconds, seed=args.seed, save_clips=args.save_clips,
        metrics=args.metrics.split(",") if args.metrics else None, reference_steps=args.reference_steps,
        batch=args.batch, device=args.device, names=args.names.split(",") if args.names else None)
    evaluate(args.checkpoints, args.data, args.out, opts)
    print(f"open {args.out / 'summary.md'}, or make a web page: wavediff gallery {args.out} --out gallery.html")
    return 0


def _run_gallery(args: argparse.Namespace) -> int:
    from ..eval.gallery import write_gallery

    out = write_gallery(args.report, args.out or args.report / "gallery.html", embed=not args.link, title=args.title)
    print(f"gallery written to {out}" + (" (files linked: keep it next to the report folder)" if args.link else ""))
    return 0


def _run_analyze_noise(args: argparse.Namespace) -> int:
    from ..eval.noise import analyze_noise, save_noise_analysis

    if args.data is None and args.config is None:
        raise ValueError("give --data DIR (a folder of audio), --config RECIPE, or both")
    result = analyze_noise(args.data, config=args.config, sample_rate=args.sample_rate, max_clips=args.max_clips,
                           max_seconds=args.max_seconds, n_fft=args.n_fft, progress=True)
    out = args.out or Path("noise_analysis")
    json_path, png_path = save_noise_analysis(result, out)
    bands = ", ".join(f"{b['name']} {b['crossing_logsnr']:.1f}" for b in result["bands"])
    print(f"{result['clips']} clip(s) at {result['sample_rate']} Hz; logsnr where each octave band's SNR is 0 dB: {bands}")
    scales = ", ".join(f"{v:.3g} (pre_emphasis {c})" for c, v in result["suggested_data_scale"].items())
    print(f"diffusion.data_scale for unit-RMS x_0: {scales}")
    print(f"written {json_path} and {png_path}")
    return 0


def add_demo(sub: argparse._SubParsersAction) -> None:
    """``wavediff demo``."""
    dm = add_command(
        sub, "demo", "the whole pipeline on built-in data: teacher, students, evaluation, gallery",
        "  wavediff demo                                  # a speech vocoder (needs espeak-ng), ~8 min on 2 cores\n"
        "  wavediff demo --minutes 3                      # a shorter training budget\n"
        "  wavediff demo --task music                     # class-conditional notes on the synthetic demo corpus\n"
        "  wavediff demo --device cuda --minutes 10       # on a GPU\n"
        "  wavediff demo --task music --device cuda --model base   # a DiffWave teacher, for a GPU\n",
        _run_demo)
    dm.add_argument("--task", choices=["vocoder", "music"], default="vocoder",
                    help="vocoder (default): a mel vocoder on espeak-ng speech, judged against the originals "
                         "and Griffin-Lim on unseen speakers and sentences; music: a class-conditional "
                         "generator of the synthetic demo notes")
    dm.add_argument("--out", type=Path, default=None, help="output folder (default demo-vocoder-out/ or demo-out/)")
    dm.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    dm.add_argument("--minutes", type=float, default=5.0,
                    help="training budget in minutes, shared by teacher and students (default 5)")
    dm.add_argument("--clips", type=int, default=None,
                    help="held-out clips (vocoder, default 8) or generated clips per row (music, default 32)")
    dm.add_argument("--model", default=None, choices=["tiny", "base", "large", "spectral"],
                    help="music task: the teacher's network preset as it is (the students inherit it); by "
                         "default the demo recipe's CPU-sized network: spectral with the corpus prior and the "
                         "time-frequency branch. base and large (DiffWave, 6139-sample receptive field) are for "
                         "a GPU; tiny (29 samples) makes spectral textures, not pitch")


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    """``wavediff evaluate``."""
    ev = add_command(
        sub, "evaluate", "quality against network evaluations on held-out clips: metrics, RTF, audio, plots",
        "  wavediff evaluate runs/demo/checkpoints/last.ckpt --data data/demo --steps 1,2,4,8,16 --out report/\n"
        "  wavediff evaluate runs/demo runs/demo-distill runs/demo-cd --data data/demo --out compare/   # teacher first\n"
        "  wavediff evaluate runs/demo --data data/demo --steps 4,16 --methods ddpm:uniform_t,ddpm:uniform_logsnr\n"
        "  wavediff evaluate runs/ljspeech-vocoder --data data/LJSpeech-1.1 --steps 1,2,6,50 \\\n"
        "      --metrics mrstft_distance,mel_l1,pesq,stoi --out report-voc/\n",
        _run_evaluate)
    ev.add_argument("checkpoints", type=Path, nargs="+", metavar="MODEL",
                    help="checkpoint or run folder (train or distill output); several: a comparison, the first "
                         "is the teacher")
    ev.add_argument("--data", type=Path, required=True, help="corpus folder the models were trained on (held-out split)")
    ev.add_argument("--out", type=Path, default=Path("report"), help="report folder (default report/)")
    ev.add_argument("--steps", type=int_list, default=(1, 2, 4, 8, 16), help="step counts (default 1,2,4,8,16)")
    ev.add_argument("--methods", default=None, help="samplers of plain models, each optionally with its grid "
                    "(ddim,ddpm:uniform_t,ddpm:uniform_logsnr; default: ddim and the recipe's own)")
    ev.add_argument("--num", type=int, default=32, help="clips per row (default 32)")
    ev.add_argument("--seconds", type=float, default=None,
                    help="clip length (default: the training segment; vocoders 2 s)")
    # spelled out rather than read from wavediff.audio.metrics, which would import torch for every
    # command's --help; tests/test_project.py holds it equal to COPY_SYNTHESIS_METRICS
    ev.add_argument("--metrics", default=None,
                    help="comma-separated copy-synthesis metrics of vocoders (default mrstft_distance,mel_l1,lsd; "
                         "also the speech metrics of the eval extra: mcd,f0_rmse,f0_rmse_cents,voicing_error,pesq,"
                         "stoi,estoi,dnsmos,dnsmos_sig,dnsmos_bak,dnsmos_p808)")
    ev.add_argument("--names", default=None, help="comma-separated model names for the report")
    ev.add_argument("--reference-steps", type=int, default=64,
                    help="DDIM steps of the teacher reference in a comparison (default 64)")
    ev.add_argument("--save-clips", type=int, default=4, help="clips per row written as WAV + PNG (default 4)")
    ev.add_argument("--batch", type=int, default=16, help="clips generated at once (default 16)")
    ev.add_argument("--seed", type=int, default=0, help="noise and segment seed (default 0)")
    ev.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def add_gallery(sub: argparse._SubParsersAction) -> None:
    """``wavediff gallery``."""
    ga = add_command(
        sub, "gallery", "one self-contained HTML page of an evaluation report: players, spectrograms, metrics",
        "  wavediff gallery report/ --out gallery.html\n"
        "  wavediff gallery report/ --out report/index.html --link     # small page that links the report's files\n"
        "  wavediff gallery compare/ --out compare.html --title \"teacher vs students\"\n",
        _run_gallery)
    ga.add_argument("report", type=Path, help="report folder written by `wavediff evaluate` (holds report.json)")
    ga.add_argument("--out", type=Path, default=None, help="HTML file to write (default REPORT/gallery.html)")
    ga.add_argument("--link", action="store_true",
                    help="reference audio and images by relative paths instead of embedding them")
    ga.add_argument("--title", default=None, help="page title (default: from the report folder name)")


def add_analyze_noise(sub: argparse._SubParsersAction) -> None:
    """``wavediff analyze-noise``."""
    an = add_command(
        sub, "analyze-noise", "which frequency bands each noise level drowns, and where the loss weighting puts its weight",
        "  wavediff analyze-noise --data data/demo --out noise/\n"
        "  wavediff analyze-noise --config ljspeech-vocoder --data data/LJSpeech-1.1 --out noise-lj/\n"
        "  wavediff analyze-noise --data my_clips/ --sample-rate 22050 --max-clips 16 --n-fft 2048\n",
        _run_analyze_noise)
    an.add_argument("--data", type=Path, default=None,
                    help="folder of audio (with --config: the recipe's corpus folder; default its data.root)")
    an.add_argument("--config", type=Path, default=None,
                    help="recipe (YAML file or packaged name): corpus reader, sample rate, schedule, weighting "
                         "and time sampling")
    an.add_argument("--out", type=Path, default=None, help="output folder (default noise_analysis/)")
    an.add_argument("--sample-rate", type=int, default=None, help="Hz (default: the recipe's, else the first file's)")
    an.add_argument("--max-clips", type=int, default=64, help="clips averaged, spread over the corpus (default 64)")
    an.add_argument("--max-seconds", type=float, default=30.0, help="seconds read from each clip (default 30)")
    an.add_argument("--n-fft", type=int, default=1024, help="Welch frame length (default 1024)")
