import math

import pytest
import torch

from wavediff.diffusion import (
    get_schedule,
    logsnr_from_betas,
    schedule_from_config,
    shift_for_length,
    step_grid,
)

ALL = [("cosine", {}), ("linear_beta", {}), ("edm", {}), ("cosine", {"shift": shift_for_length(16000, 64000)}),
       ("cosine", {"logsnr_min": -10.0, "logsnr_max": 8.0})]


@pytest.mark.parametrize("name,kwargs", ALL)
def test_inverse_monotone_and_vp(name, kwargs):
    sched = get_schedule(name, **kwargs)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    logsnr = sched.logsnr(t)
    assert torch.isfinite(logsnr).all()
    assert (logsnr[1:] < logsnr[:-1]).all(), "logsnr must be strictly decreasing in t"
    assert torch.allclose(sched.t_from_logsnr(logsnr), t, atol=1e-9)
    alpha, sigma = sched.alpha_sigma(t)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(t), atol=1e-12)
    assert torch.allclose(torch.log(alpha**2 / sigma**2), logsnr, atol=1e-6)
    # float32 input keeps its dtype
    assert sched.logsnr(t.float()).dtype == torch.float32


@pytest.mark.parametrize("name,kwargs", ALL)
def test_derivative_matches_finite_difference(name, kwargs):
    sched = get_schedule(name, **kwargs)
    # away from linear_beta's knots (u = n/50), where its derivative jumps
    t = torch.tensor([0.111, 0.373, 0.533, 0.831], dtype=torch.float64)
    h = 1e-6
    fd = (sched.logsnr(t + h) - sched.logsnr(t - h)) / (2 * h)
    assert torch.allclose(sched.dlogsnr_dt(t), fd, rtol=1e-4)
    assert (sched.dlogsnr_dt(t) < 0).all()


def test_clipping_range_cosine():
    sched = get_schedule("cosine", logsnr_min=-12.0, logsnr_max=9.0)
    assert sched.logsnr_min == pytest.approx(-12.0)
    assert sched.logsnr_max == pytest.approx(9.0)
    # logsnr values outside the range map to the end points
    assert float(sched.t_from_logsnr(torch.tensor(50.0))) == 0.0
    assert float(sched.t_from_logsnr(torch.tensor(-50.0))) == 1.0


def test_shift_moves_every_logsnr():
    base = get_schedule("cosine")
    shift = shift_for_length(16000, 64000)
    assert shift == pytest.approx(2 * math.log(0.25))
    shifted = get_schedule("cosine", shift=shift)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    assert torch.allclose(shifted.logsnr(t), base.logsnr(t) + shift)


def test_linear_beta_reproduces_discrete_alpha_bar():
    betas = torch.linspace(1e-4, 0.05, 50, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    sched = get_schedule("linear_beta", beta_start=1e-4, beta_end=0.05, num_betas=50)
    # discrete step n sits at u = n/N; find its t through the inverse and compare alpha^2
    logsnr_n = torch.log(alpha_bar / (1 - alpha_bar))
    assert torch.allclose(logsnr_from_betas(betas), logsnr_n)
    t_n = sched.t_from_logsnr(logsnr_n)
    alpha, _ = sched.alpha_sigma(t_n)
    assert torch.allclose(alpha**2, alpha_bar, rtol=1e-10)
    # DiffWave's schedule ends far from pure noise
    assert sched.logsnr_min == pytest.approx(float(logsnr_n[-1]))
    assert -1.0 < sched.logsnr_min < -0.9


def test_edm_schedule_matches_karras_sigmas():
    sched = get_schedule("edm", sigma_min=0.002, sigma_max=80.0, rho=7.0)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    sigma = torch.exp(-0.5 * sched.logsnr(t))
    ramp = (0.002 ** (1 / 7) + t * (80 ** (1 / 7) - 0.002 ** (1 / 7))) ** 7
    assert torch.allclose(sigma, ramp)


@pytest.mark.parametrize("name,kwargs", ALL)
def test_config_round_trip(name, kwargs):
    sched = get_schedule(name, **kwargs)
    again = schedule_from_config(sched.config())
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    assert torch.equal(sched.logsnr(t), again.logsnr(t))


def test_bad_names_and_arguments():
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("quadratic")
    with pytest.raises(ValueError, match="bad arguments"):
        get_schedule("cosine", rho=3)
    with pytest.raises(ValueError, match="logsnr_min < logsnr_max"):
        get_schedule("cosine", logsnr_min=5, logsnr_max=1)


def test_grids():
    sched = get_schedule("cosine")
    for kind in ("uniform_t", "uniform_logsnr", "karras"):
        for steps in (1, 2, 7):
            g = step_grid(sched, steps, kind)
            assert g.numel() == steps + 1 and math.isinf(g[-1])
            assert (g[1:] > g[:-1]).all()
            assert g[0] == pytest.approx(sched.logsnr_min)
    assert step_grid(sched, 4, "uniform_t")[3] == pytest.approx(float(sched.logsnr(torch.tensor(0.25, dtype=torch.float64))))
    assert step_grid(sched, 5, "karras")[-2] == pytest.approx(sched.logsnr_max)
    # DiffWave's 6-step fast schedule
    g = step_grid(sched, None, "diffwave6")
    ab = torch.cumprod(1 - torch.tensor([1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5], dtype=torch.float64), 0)
    assert torch.allclose(g[:-1], torch.log(ab / (1 - ab)).flip(0))
    # explicit grids, either order, must be monotone
    with pytest.raises(ValueError, match="monotone"):
        step_grid(sched, None, logsnr_grid=[3.0, -1.0, 0.5])
    assert step_grid(sched, 3, logsnr_grid=[4.0, 0.0, -2.0]).tolist()[:3] == [-2.0, 0.0, 4.0]
    with pytest.raises(ValueError, match="steps=2"):
        step_grid(sched, 2, logsnr_grid=[4.0, 0.0, -2.0])
