"""``wavediff import diffwave``: a checkpoint of the DiffWave reference implementation becomes a
wavediff checkpoint with the same network function, tested against the reference's own
``model.py`` (PyPI ``diffwave`` 0.1.7, installed with ``--no-deps``: only its model is used)."""

import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from wavediff.diffusion import Denoiser, sample
from wavediff.diffusion.grids import DIFFWAVE_FAST_BETAS
from wavediff.importers import DiffWaveImportError, import_diffwave
from wavediff.nn.step_embedding import fractional_step
from wavediff.train.module import load_module

reference = pytest.importorskip("diffwave.model", reason="the DiffWave reference: pip install --no-deps diffwave==0.1.7")
from diffwave.params import AttrDict, params as REFERENCE_DEFAULTS  # noqa: E402

SR = 22050


def reference_net(seed=0, **params):
    """A reference DiffWave with random weights everywhere (its output layer is zero-initialised,
    which would hide most of the network)."""
    p = AttrDict(dict(REFERENCE_DEFAULTS))
    p.update(residual_layers=3, residual_channels=8, dilation_cycle_length=2, **params)
    torch.manual_seed(seed)
    net = reference.DiffWave(p).eval()
    with torch.no_grad():
        for prm in net.parameters():
            prm.normal_(0.0, 0.3)
    return net, p


def save_reference(path, net, params):
    torch.save({"step": 1234, "model": net.state_dict(), "params": dict(params)}, path)
    return path


def logsnr_of_step(step, betas):
    """logsnr of a fractional reference step: sqrt(alpha_bar) interpolated linearly between steps."""
    s = np.sqrt(np.cumprod(1.0 - np.asarray(betas)))
    n = int(math.floor(step))
    a = s[n] if n == step else s[n] - (step - n) * (s[n] - s[n + 1])
    return math.log(a * a / (1.0 - a * a))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diffwave")
    net, params = reference_net()
    src = save_reference(tmp / "weights.pt", net, params)
    return {"ref": net, "params": params, "src": src, "ckpt": import_diffwave(src, tmp / "converted.ckpt"), "tmp": tmp}


def test_fractional_steps_invert_the_cumulative_alpha_product():
    betas = REFERENCE_DEFAULTS.noise_schedule
    steps = [0.0, 1.0, 3.3, 17.5, 48.99, 49.0]
    logsnr = torch.tensor([logsnr_of_step(s, betas) for s in steps], dtype=torch.float64)
    assert fractional_step(logsnr, betas).tolist() == pytest.approx(steps, abs=1e-9)
    # cleaner than the first step / noisier than the last: clamped to the trained range
    assert fractional_step(torch.tensor([12.0, -5.0]), betas).tolist() == [0.0, 49.0]


# integer steps per batch element (its table rows), or one fractional step for the batch
# (its interpolation, which the reference supports for a single step only)
@pytest.mark.parametrize("steps", [[0, 49], [3, 17], [2.5], [0.37], [41.8]])
def test_converted_network_gives_the_references_output(converted, steps):
    ref, params = converted["ref"], converted["params"]
    module = load_module(converted["ckpt"])
    gen = torch.Generator().manual_seed(1)
    frames = 5
    x = torch.randn(2, frames * 256, generator=gen)
    mel = torch.rand(2, params.n_mels, frames, generator=gen)
    integer = all(float(s).is_integer() for s in steps)
    step = torch.tensor(steps, dtype=torch.long if integer else torch.float32)
    logsnr = torch.tensor([logsnr_of_step(float(s), params.noise_schedule) for s in steps]).expand(2)
    with torch.no_grad():
        want = ref(x, mel, step).squeeze(1)
    assert want.abs().max() > 0.05  # the comparison sees a working network
    for net in (module.net, module.ema.model):
        for fast in (True, False):  # the fused inference path and the plain layers
            net.fast_inference = fast
            with torch.no_grad():
                got = net(x.unsqueeze(1), logsnr, mel=mel).squeeze(1)
            assert torch.allclose(got, want, rtol=1e-4, atol=2e-6), (fast, (got - want).abs().max())
    with torch.enable_grad():  # and with autograd (fine-tuning, distillation)
        got = module.net(x.unsqueeze(1), logsnr, mel=mel).squeeze(1)
    assert torch.allclose(got, want, rtol=1e-4, atol=2e-6)


def test_ddpm_on_diffwave6_is_the_references_fast_sampling_loop(converted):
    """wavediff's DDPM on the ``diffwave6`` grid against the reference's fast sampler, written
    out here from its update rule: the same noise levels (fractional steps), posterior mean and
    variance, fed the same noise. The reference also clamps x_t to [-1, 1] after every step,
    which wavediff does not; that clamp is left out of both."""
    ref, params = converted["ref"], converted["params"]
    module = load_module(converted["ckpt"])
    frames, batch = 4, 2
    mel = torch.rand(batch, params.n_mels, frames, generator=torch.Generator().manual_seed(2))

    train_cum = np.cumprod(1.0 - np.asarray(params.noise_schedule))
    beta = np.asarray(params.inference_noise_schedule)
    alpha, alpha_cum = 1.0 - beta, np.cumprod(1.0 - beta)
    fast_steps = []
    for ac in alpha_cum:  # the reference's fractional step of each fast-schedule level
        t = next(t for t in range(len(train_cum) - 1) if train_cum[t + 1] <= ac <= train_cum[t])
        fast_steps.append(t + (train_cum[t] ** 0.5 - ac ** 0.5) / (train_cum[t] ** 0.5 - train_cum[t + 1] ** 0.5))
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(batch, frames * 256, generator=gen)
    with torch.no_grad():
        for n in range(len(beta) - 1, -1, -1):
            eps = ref(x, mel, torch.tensor([fast_steps[n]], dtype=torch.float32)).squeeze(1)
            x = (x - beta[n] / (1.0 - alpha_cum[n]) ** 0.5 * eps) / alpha[n] ** 0.5
            if n > 0:
                sigma = ((1.0 - alpha_cum[n - 1]) / (1.0 - alpha_cum[n]) * beta[n]) ** 0.5
                x = x + sigma * torch.randn(batch, frames * 256, generator=gen)
    want = x

    den = Denoiser(module.ema.model, "eps")  # no x0 clamp, like the reference
    cond = module.ema.model.condition(mel=mel)
    with torch.inference_mode():
        got = sample(lambda x, l: den(x, l, cond=cond), (batch, 1, frames * 256), module.schedule, None, "ddpm",
                     grid="diffwave6", generator=torch.Generator().manual_seed(3)).squeeze(1)
    assert module.recipe.sample.method == "ddpm" and module.recipe.sample.grid == "diffwave6"
    assert list(params.inference_noise_schedule) == list(DIFFWAVE_FAST_BETAS)
    assert want.abs().max() > 0.5
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4), (got - want).abs().max()


def test_checkpoint_records_the_references_diffusion(converted):
    module = load_module(converted["ckpt"])
    ckpt = torch.load(converted["ckpt"], map_location="cpu", weights_only=False)
    assert ckpt["wavediff"]["imported"] == {"from": "diffwave", "source": str(converted["src"]), "step": 1234}
    assert module.schedule.config()["name"] == "linear_beta" and module.recipe.diffusion.parameterisation == "eps"
    mel = module.mel_config
    assert (mel.sample_rate, mel.n_fft, mel.hop_length, mel.win_length, mel.n_mels) == (SR, 1024, 256, 1024, 80)
    assert (mel.fmin, mel.fmax, mel.mel_scale, mel.center, mel.normalisation) == (20.0, SR / 2, "htk", True, "diffwave")
    cfg = module.net.config
    assert (cfg.noise_embedding, cfg.mel_offset, cfg.mel_scale, cfg.upsample_factors) == ("diffwave_step", 0.0, 1.0, (16, 16))
    # the schedule spans the reference's training levels: t = 1 is its noisiest step, and
    # every step's level is a point of the schedule
    cum = np.cumprod(1.0 - np.asarray(converted["params"].noise_schedule))
    levels = torch.tensor(np.log(cum / (1 - cum)), dtype=torch.float64)
    sched = module.schedule
    assert sched.logsnr_min == pytest.approx(float(levels[-1]), abs=1e-9) and sched.logsnr_max > float(levels[0])
    assert sched.logsnr(sched.t_from_logsnr(levels)).numpy() == pytest.approx(levels.numpy(), abs=1e-9)


def test_other_fast_schedules_become_the_checkpoints_ddpm_grid(tmp_path):
    net, params = reference_net(inference_noise_schedule=[1e-4, 1e-2, 0.1, 0.5])
    module = load_module(import_diffwave(save_reference(tmp_path / "w.pt", net, params), tmp_path / "c.ckpt"))
    assert module.recipe.sample.grid is None and module.recipe.sample.steps == 4
    cum = np.cumprod(1.0 - np.array([1e-4, 1e-2, 0.1, 0.5]))
    assert module.tuned_grids["ddpm:4"] == pytest.approx(np.log(cum / (1 - cum))[::-1].tolist())


def test_bad_inputs_are_named(tmp_path, converted):
    with pytest.raises(DiffWaveImportError, match="not a DiffWave reference checkpoint"):
        torch.save({"state_dict": {}}, tmp_path / "x.pt")
        import_diffwave(tmp_path / "x.pt", tmp_path / "o.ckpt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DiffWaveImportError, match="cannot read it as a plain PyTorch checkpoint"):
        import_diffwave(tmp_path / "junk.pt", tmp_path / "o.ckpt")
    net, params = reference_net()
    state = net.state_dict()
    params = dict(params, residual_channels=16)
    torch.save({"model": state, "params": params}, tmp_path / "lie.pt")
    with pytest.raises(DiffWaveImportError, match="residual_channels: params 16, weights 8"):
        import_diffwave(tmp_path / "lie.pt", tmp_path / "o.ckpt")
    torch.save({"model": state, "params": dict(params, residual_channels=8, hop_samples=300)}, tmp_path / "hop.pt")
    with pytest.raises(DiffWaveImportError, match="hop_samples is 300"):
        import_diffwave(tmp_path / "hop.pt", tmp_path / "o.ckpt")
    with pytest.raises(DiffWaveImportError, match=r"\*\.ckpt"):
        import_diffwave(converted["src"], tmp_path / "o.pt")


def _speech_like(path, seconds=1.0, f0=140.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = 0.2 * x / np.abs(x).max() + 0.003 * rng.standard_normal(t.size)
    sf.write(str(path), x.astype(np.float32), SR)
    return path


def test_the_converted_checkpoint_drives_every_command(converted, tmp_path):
    """import -> vocode, evaluate, tune-schedule, distill, train --init-from, all from the command line."""
    cli = [sys.executable, "-m", "wavediff.cli"]
    ckpt = tmp_path / "lj.ckpt"
    run = subprocess.run(cli + ["import", "diffwave", str(converted["src"]), "--out", str(ckpt)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    data = tmp_path / "clips"
    data.mkdir()
    for i in range(3):
        _speech_like(data / f"clip{i}.wav", seed=i)
    commands = [
        ["vocode", str(ckpt), str(data / "clip0.wav"), "--out", str(tmp_path / "voc.wav")],
        ["evaluate", str(ckpt), "--data", str(data), "--steps", "2", "--num", "2", "--seconds", "0.3",
         "--save-clips", "0", "--out", str(tmp_path / "report")],
        ["tune-schedule", str(ckpt), "--data", str(data), "--steps", "2", "--clips", "1", "--seconds", "0.3",
         "--candidates", "2", "--out", str(tmp_path / "tuned.ckpt")],
        ["distill", "--config", "ljspeech-vocoder-distill", "--teacher", str(ckpt),
         "--out", str(tmp_path / "student"), "data.corpus=folder", f"data.root={data}", "data.options={labels: null}",
         "data.mel_cache=null", "data.segment_samples=2048", "data.batch_size=2", "data.num_workers=0",
         "data.valid_clips=1", "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2",
         "optim.warmup_steps=0", "distill.teacher_steps=4", "distill.target_steps=2", "distill.val_clips=1"],
    ]
    for args in commands:
        run = subprocess.run(cli + args, capture_output=True, text=True)
        assert run.returncode == 0, (args[0], run.stderr[-3000:])
    # fine-tuning: the recipe written next to the checkpoint builds the same network
    run = subprocess.run(cli + ["train", "--config", str(ckpt.with_suffix(".yaml")), "--init-from", str(ckpt),
                                "--out", str(tmp_path / "finetune"), f"data.root={data}", "data.segment_samples=2048",
                                "data.batch_size=2", "data.valid_clips=1", "trainer.max_steps=2", "trainer.val_every=2",
                                "trainer.checkpoint_every=2", "sample.steps=6"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    tuned = load_module(tmp_path / "finetune" / "checkpoints" / "last.ckpt")
    assert tuned.net.config == load_module(ckpt).net.config and tuned.mel_config == load_module(ckpt).mel_config
    audio, sr = sf.read(tmp_path / "voc.wav")
    assert sr == SR and audio.shape == (SR,)
    assert (tmp_path / "report" / "report.json").is_file()
    assert "ddim:2" in load_module(tmp_path / "tuned.ckpt").tuned_grids
    student = load_module(tmp_path / "student" / "round_2" / "checkpoints" / "last.ckpt")
    assert student.net.config == load_module(ckpt).net.config
