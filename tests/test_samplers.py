"""Samplers checked against closed forms: with the exact E[x0 | x_t] of Gaussian and
Gaussian-mixture data, every sampler must reproduce the data distribution."""

import math

import pytest
import torch

from exact_denoisers import GaussianMixture, gaussian
from wavediff.diffusion import (
    SAMPLERS,
    classifier_free_guidance,
    default_grid,
    encode,
    from_x0,
    get_schedule,
    nfe,
    sample,
    step_grid,
)

SCHED = get_schedule("cosine")
GAUSS = gaussian(0.3, 0.5)
MIX = GaussianMixture([0.3, 0.7], [-0.6, 0.5], [0.1, 0.2])
SHAPE = (2000, 1, 8)  # 16000 i.i.d. values
# step counts at which each method has converged for these targets
CONVERGED = {"ddpm": 300, "ddim": 200, "euler": 300, "heun": 100, "sde": 500, "dpmpp_2m": 100}


def _run(dist, method, steps, seed=0, **kw):
    return sample(dist.denoise, SHAPE, SCHED, steps, method, generator=torch.Generator().manual_seed(seed),
                  dtype=torch.float64, **kw)


@pytest.mark.parametrize("method", SAMPLERS)
def test_gaussian_moments_and_convergence(method):
    x = _run(GAUSS, method, CONVERGED[method])
    assert abs(float(x.mean()) - 0.3) < 0.015
    assert abs(float(x.std()) - 0.5) < 0.015
    # the error shrinks as steps grow
    err = [abs(float(_run(GAUSS, method, k).std()) - 0.5) for k in (8, 64)]
    assert err[1] < 0.5 * err[0], err


@pytest.mark.parametrize("method", SAMPLERS)
def test_mixture_weights_and_moments(method):
    x = _run(MIX, method, CONVERGED[method], seed=1)
    true_left = 0.3 + 0.7 * 0.5 * math.erfc(0.5 / 0.2 / math.sqrt(2))  # P(x < 0)
    assert abs(float((x < 0).double().mean()) - true_left) < 0.015
    assert abs(float(x.mean()) - MIX.mean) < 0.015
    assert abs(float(x.std()) - math.sqrt(MIX.var)) < 0.015
    # the two modes are resolved: few samples between them
    between = ((x > -0.3) & (x < 0.0)).double().mean()
    assert float(between) < 0.02


@pytest.mark.parametrize("method", ["ddim", "heun", "euler", "dpmpp_2m"])
def test_deterministic_methods_ignore_the_generator(method):
    x_init = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    a = _run(GAUSS, method, 10, seed=0, x_init=x_init)
    b = _run(GAUSS, method, 10, seed=1, x_init=x_init)
    assert torch.equal(a, b)


def test_stochastic_methods_use_the_generator():
    x_init = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for method, kw in [("ddim", {"eta": 0.5}), ("ddpm", {}), ("sde", {})]:
        a = _run(GAUSS, method, 10, seed=0, x_init=x_init, **kw)
        b = _run(GAUSS, method, 10, seed=1, x_init=x_init, **kw)
        c = _run(GAUSS, method, 10, seed=0, x_init=x_init, **kw)
        assert not torch.equal(a, b) and torch.equal(a, c)


def test_ddim_eta_one_is_ddpm():
    a = _run(GAUSS, "ddim", 12, eta=1.0)
    b = _run(GAUSS, "ddpm", 12)
    assert torch.allclose(a, b)


def test_nfe_and_grid_used():
    for method in SAMPLERS:
        seen = []

        def counting(x, logsnr):
            seen.append(float(logsnr[0]))
            return GAUSS.denoise(x, logsnr)

        sample(counting, (4, 1, 3), SCHED, 5, method, generator=torch.Generator().manual_seed(0))
        assert len(seen) == nfe(method, 5)
    seen = []
    sample(lambda x, l: seen.append(float(l[0])) or GAUSS.denoise(x, l), (4, 1, 3), SCHED, None, "ddpm",
           grid="diffwave6", generator=torch.Generator().manual_seed(0))
    assert seen == pytest.approx(step_grid(SCHED, None, "diffwave6")[:-1].tolist(), rel=1e-6)


def test_callback_and_errors():
    calls = []
    sample(GAUSS.denoise, (2, 1, 4), SCHED, 3, "ddim", callback=lambda i, x, x0: calls.append((i, x.shape, x0.shape)))
    assert [c[0] for c in calls] == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(GAUSS.denoise, (2, 1, 4), SCHED, 3, "plms")
    with pytest.raises(ValueError, match="eta"):
        sample(GAUSS.denoise, (2, 1, 4), SCHED, 3, "heun", eta=0.5)
    with pytest.raises(ValueError, match="x_init has shape"):
        sample(GAUSS.denoise, (2, 1, 4), SCHED, 3, "ddim", x_init=torch.zeros(2, 1, 5))
    with pytest.raises(ValueError, match="steps must be"):
        sample(GAUSS.denoise, (2, 1, 4), SCHED, 0, "ddim")


@pytest.mark.parametrize("dist,steps,tol", [(GAUSS, 32, 0.05), (GAUSS, 128, 1e-3), (MIX, 256, 0.01)])
def test_encode_decode_round_trip(dist, steps, tol):
    x0 = dist.sample((200, 1, 8), torch.Generator().manual_seed(2))
    z = encode(dist.denoise, x0, SCHED, steps, "heun")
    # the encoding is (nearly) standard normal noise
    assert abs(float(z.std()) - 1.0) < 0.1
    x_rec = sample(dist.denoise, x0.shape, SCHED, steps, "heun", grid="karras", x_init=z, dtype=torch.float64)
    assert float((x_rec - x0).abs().max()) < tol


def test_encode_error_shrinks_with_steps():
    x0 = MIX.sample((200, 1, 8), torch.Generator().manual_seed(3))
    errs = []
    for steps in (16, 64, 256):
        z = encode(MIX.denoise, x0, SCHED, steps, "euler")
        x_rec = sample(MIX.denoise, x0.shape, SCHED, steps, "euler", grid="karras", x_init=z, dtype=torch.float64)
        errs.append(float((x_rec - x0).abs().mean()))
    assert errs[0] > errs[1] > errs[2]


def test_classifier_free_guidance():
    """Two classes: class c has data N(means[c], 0.1^2); the null class the mixture."""
    means = torch.tensor([-0.5, 0.5], dtype=torch.float64)
    comps = [gaussian(float(m), 0.1) for m in means]
    mixture = GaussianMixture([0.5, 0.5], means.tolist(), [0.1, 0.1])

    def denoise(x, logsnr, class_label):
        out = torch.empty_like(x)
        for c, d in enumerate(comps + [mixture]):
            sel = class_label == c
            if sel.any():
                out[sel] = d.denoise(x[sel], logsnr[sel])
        return out

    labels = torch.tensor([0, 1, 1, 0])
    cond, uncond = {"class_label": labels}, {"class_label": torch.full_like(labels, 2)}
    x = torch.randn(4, 1, 6, dtype=torch.float64)
    logsnr = torch.full((4,), 0.3, dtype=torch.float64)
    c, u = denoise(x, logsnr, **cond), denoise(x, logsnr, **uncond)
    assert torch.allclose(classifier_free_guidance(denoise, 1.0, cond, uncond)(x, logsnr), c)
    assert torch.allclose(classifier_free_guidance(denoise, 0.0, cond, uncond)(x, logsnr), u)
    g3 = classifier_free_guidance(denoise, 3.0, cond, uncond)(x, logsnr)
    assert torch.allclose(g3, u + 3.0 * (c - u))
    # clip: the guided x0 is clamped to the data's range (and left alone inside it)
    g30 = classifier_free_guidance(denoise, 30.0, cond, uncond, clip=0.6)(x, logsnr)
    raw = u + 30.0 * (c - u)
    assert raw.abs().max() > 0.6 and torch.equal(g30, raw.clamp(-0.6, 0.6))
    assert torch.allclose(classifier_free_guidance(denoise, 3.0, cond, uncond, clip=100.0)(x, logsnr), g3)
    # guidance in x0 equals guidance in eps
    a, s = torch.sigmoid(logsnr).sqrt().view(-1, 1, 1), torch.sigmoid(-logsnr).sqrt().view(-1, 1, 1)
    eps_c, eps_u = from_x0("eps", c, x, a, s), from_x0("eps", u, x, a, s)
    assert torch.allclose(from_x0("eps", g3, x, a, s), eps_u + 3.0 * (eps_c - eps_u))
    # sampling with guidance w > 1 tightens each class around its mean
    lab = torch.tensor([0, 1]).repeat(500)
    cond, uncond = {"class_label": lab}, {"class_label": torch.full_like(lab, 2)}
    outs = {}
    for w in (1.0, 3.0):
        fn = classifier_free_guidance(denoise, w, cond, uncond)
        outs[w] = sample(fn, (1000, 1, 4), SCHED, 200, "ddim", generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x1, x3 = outs[1.0], outs[3.0]
    # w = 1 samples each class exactly
    assert abs(float(x1[lab == 0].mean()) + 0.5) < 0.02 and abs(float(x1[lab == 1].mean()) - 0.5) < 0.02
    assert abs(float(x1[lab == 0].std()) - 0.1) < 0.01
    # w = 3 samples p(x|c)^3 / p(x)^2: pushed away from the other class, and tighter
    assert float(x3[lab == 0].mean()) < -0.55 and float(x3[lab == 1].mean()) > 0.55
    assert float(x3[lab == 0].std()) < 0.09
    with pytest.raises(ValueError, match="same keys"):
        classifier_free_guidance(denoise, 2.0, {"class_label": labels}, {})


# Largest miss of the mixture's statistics each schedule allows at 16 steps on its default
# grids (benchmarks/sampling_grids.py: linear_beta and edm have a floor of about 0.05 and 0.02
# from where their grids start, whatever the grid).
DEFAULT_GRID_TOLERANCE = {"cosine": 0.12, "linear_beta": 0.08, "edm": 0.1}


@pytest.mark.parametrize("schedule", sorted(DEFAULT_GRID_TOLERANCE))
def test_default_grids_reproduce_the_mixture(schedule):
    """The grid a sampler uses by default reproduces a two-Gaussian mixture at 12-16 steps
    on every schedule, and is at least as good as every other grid kind at 16 steps."""
    sched = get_schedule(schedule)

    def miss(method, steps, grid=None):
        x = sample(MIX.denoise, SHAPE, sched, steps, method, grid=grid, generator=torch.Generator().manual_seed(1),
                   dtype=torch.float64)
        return MIX.statistics_miss(x)

    for method in SAMPLERS:
        chosen = default_grid(method, sched)
        errors = {steps: miss(method, steps) for steps in (12, 16)}
        assert errors[16] < DEFAULT_GRID_TOLERANCE[schedule], (method, chosen, errors)
        others = {g: miss(method, 16, g) for g in ("uniform_t", "uniform_logsnr", "karras") if g != chosen}
        assert errors[16] <= min(others.values()) * 1.5 + 0.01, (method, chosen, errors, others)
