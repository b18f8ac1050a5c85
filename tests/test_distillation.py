"""Distillation maths checked against closed forms: progressive-distillation targets with an
exact Gaussian-mixture teacher, the consistency parameterisation, the teacher's ODE step,
noise-level curricula and consistency sampling with an exact consistency function."""

import math

import pytest
import torch

from exact_denoisers import GaussianMixture, gaussian
from wavediff.diffusion import Denoiser, from_x0, get_schedule, sample, step_grid, to_x0_eps
from wavediff.diffusion.distillation import (
    consistency_coefficients,
    consistency_fn,
    consistency_function,
    consistency_loss_weight,
    consistency_sample,
    consistency_sigmas,
    ddim_step,
    edm_denoiser,
    ict_num_scales,
    karras_sigmas,
    pf_ode_step,
    progressive_positions,
    progressive_rounds,
    progressive_target,
    pseudo_huber,
    sample_scale_indices,
    scale_index_probs,
    sigma_range,
    v_as_consistency_output,
)

SCHED = get_schedule("cosine")
MIX = GaussianMixture([0.3, 0.7], [-0.6, 0.5], [0.1, 0.2])


def _vp(l):
    """(alpha, sigma) of a python float logsnr, computed independently of the library."""
    if math.isinf(l):
        return 1.0, 0.0
    return math.sqrt(1 / (1 + math.exp(-l))), math.sqrt(1 / (1 + math.exp(l)))


def _teacher_ddim(x, l_from, l_to):
    """One deterministic DDIM step of the exact teacher, written out by hand."""
    a, s = _vp(l_from)
    x0 = MIX.denoise(x, torch.full((x.shape[0],), l_from, dtype=torch.float64))
    if math.isinf(l_to):
        return x0
    eps = (x - a * x0) / s
    a2, s2 = _vp(l_to)
    return a2 * x0 + s2 * eps


@pytest.mark.parametrize("teacher_steps", [2, 4, 8, 16])
def test_one_student_step_equals_two_teacher_steps_at_every_position(teacher_steps):
    grid = step_grid(SCHED, teacher_steps, "uniform_t")
    l_t, l_mid, l_next = progressive_positions(grid)
    assert l_t.numel() == teacher_steps // 2 and math.isinf(float(l_next[-1]))
    gen = torch.Generator().manual_seed(teacher_steps)
    for i in range(teacher_steps // 2):
        x_t = torch.randn(64, 1, 16, generator=gen, dtype=torch.float64) * (1.0 if i == 0 else 0.7)
        teacher = _teacher_ddim(_teacher_ddim(x_t, float(l_t[i]), float(l_mid[i])), float(l_mid[i]), float(l_next[i]))
        x0_tilde = progressive_target(MIX.denoise, x_t, l_t[i], l_mid[i], l_next[i])
        # one hand-written student DDIM step with x0_hat = x0_tilde
        a, s = _vp(float(l_t[i]))
        a2, s2 = _vp(float(l_next[i]))
        student = a2 * x0_tilde + s2 * (x_t - a * x0_tilde) / s
        torch.testing.assert_close(student, teacher, rtol=1e-12, atol=1e-12)
        if i == teacher_steps // 2 - 1:  # the last step: the target is the teacher's final x0
            torch.testing.assert_close(x0_tilde, teacher, rtol=0, atol=0)


def test_per_example_positions_and_ddim_step():
    """Mixed grid positions in one batch (as in training), the last one included."""
    grid = step_grid(SCHED, 8, "uniform_t")
    l_t, l_mid, l_next = progressive_positions(grid)
    idx = torch.tensor([0, 1, 2, 3, 3, 0])
    x_t = torch.randn(6, 1, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x0_tilde = progressive_target(MIX.denoise, x_t, l_t[idx], l_mid[idx], l_next[idx])
    student = ddim_step(x0_tilde, x_t, l_t[idx], l_next[idx])
    for b, i in enumerate(idx.tolist()):
        teacher = _teacher_ddim(_teacher_ddim(x_t[b:b + 1], float(l_t[i]), float(l_mid[i])),
                                float(l_mid[i]), float(l_next[i]))
        torch.testing.assert_close(student[b:b + 1], teacher, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("teacher_steps", [4, 16])
def test_a_perfect_student_samples_like_the_teacher_with_half_the_steps(teacher_steps):
    """Halving a uniform_t grid is the uniform_t grid of half the steps, so the student samples
    with the plain sampler; a perfect student's K-step DDIM trajectory is the teacher's 2K-step one."""
    teacher_grid = step_grid(SCHED, teacher_steps, "uniform_t")
    student_grid = step_grid(SCHED, teacher_steps // 2, "uniform_t")
    l_t, l_mid, l_next = progressive_positions(teacher_grid)
    assert torch.equal(l_t, student_grid[:-1]) and math.isinf(float(l_next[-1]))  # the student's grid

    def perfect_student(x, logsnr):
        i = int(torch.nonzero(l_t == float(logsnr[0]))[0])
        return progressive_target(MIX.denoise, x, l_t[i], l_mid[i], l_next[i])

    z = torch.randn(500, 1, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kw = dict(method="ddim", x_init=z, dtype=torch.float64)
    teacher = sample(MIX.denoise, z.shape, SCHED, teacher_steps, **kw)
    student = sample(perfect_student, z.shape, SCHED, teacher_steps // 2, **kw)
    torch.testing.assert_close(student, teacher, rtol=1e-10, atol=1e-10)
    # and a student that simply reuses the teacher at half the steps does not
    assert (sample(MIX.denoise, z.shape, SCHED, teacher_steps // 2, **kw) - teacher).abs().max() > 1e-3


def test_target_in_the_student_parameterisation_round_trips():
    grid = step_grid(SCHED, 4, "uniform_t")
    l_t, l_mid, l_next = progressive_positions(grid)
    x_t = torch.randn(4, 1, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x0_tilde = progressive_target(MIX.denoise, x_t, l_t[0], l_mid[0], l_next[0])
    a, s = _vp(float(l_t[0]))
    for param in ("eps", "x0", "v"):
        out = from_x0(param, x0_tilde, x_t, torch.tensor(a, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
        back, _ = to_x0_eps(param, out, x_t, torch.tensor(a, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
        torch.testing.assert_close(back, x0_tilde, rtol=1e-10, atol=1e-10)


def test_progressive_rounds():
    assert progressive_rounds(64, 4) == [32, 16, 8, 4]
    assert progressive_rounds(2, 1) == [1]
    with pytest.raises(ValueError, match="power of two"):
        progressive_rounds(48, 4)
    with pytest.raises(ValueError):
        progressive_rounds(4, 4)
    with pytest.raises(ValueError, match="even number of steps"):
        progressive_positions(step_grid(SCHED, 3))
    with pytest.raises(ValueError, match="logsnr_t < logsnr_mid"):
        progressive_target(MIX.denoise, torch.zeros(1, 1, 4, dtype=torch.float64), 1.0, 0.0, 2.0)


# -- consistency models ------------------------------------------------------------------
def test_boundary_condition_is_exact():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 1, 64, generator=gen)
    wild = lambda x_, s_: 1e3 * torch.randn(x_.shape, generator=gen)  # noqa: E731
    for sigma_min, sigma_data in [(0.002, 0.5), (0.01, 1.0), (1e-4, 0.1)]:
        assert torch.equal(consistency_function(wild, x, sigma_min, sigma_min, sigma_data), x)


def test_c_skip_c_out_limits():
    c_skip, c_out = consistency_coefficients(torch.tensor([0.002, 1e6], dtype=torch.float64), 0.002, 0.5)
    assert float(c_skip[0]) == 1.0 and float(c_out[0]) == 0.0
    assert float(c_skip[1]) < 1e-12 and abs(float(c_out[1]) - 0.5) < 1e-8
    # sigma_min = 0, sigma_data = 1: the v-parameterisation's coefficients
    s = torch.logspace(-3, 2, 20, dtype=torch.float64)
    c_skip, c_out = consistency_coefficients(s, 0.0, 1.0)
    torch.testing.assert_close(c_skip, 1 / (1 + s**2))
    torch.testing.assert_close(c_out, s / torch.sqrt(1 + s**2))
    # monotone: skip fades out, out grows
    assert (c_skip[1:] < c_skip[:-1]).all() and (c_out[1:] > c_out[:-1]).all()


@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_a_diffusion_network_is_a_consistency_function_at_initialisation(param):
    """With sigma_data = 1 and sigma_min = 0, F = -v_hat turns a network's output in any
    parameterisation into exactly that network's x0_hat."""
    gen = torch.Generator().manual_seed(3)
    x_tilde = torch.randn(6, 1, 16, generator=gen, dtype=torch.float64)
    sigma = torch.logspace(-2, 1.5, 6, dtype=torch.float64)
    out = torch.randn(6, 1, 16, generator=gen, dtype=torch.float64)  # any network output
    alpha = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1)
    vp_sigma = (sigma / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1)
    x_t = alpha * x_tilde
    x0_hat, _ = to_x0_eps(param, out, x_t, alpha, vp_sigma)
    F = lambda x_, s_: v_as_consistency_output(param, out, x_t, alpha, vp_sigma)  # noqa: E731
    torch.testing.assert_close(consistency_function(F, x_tilde, sigma, 0.0, 1.0), x0_hat)


@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_consistency_fn_of_a_network_starts_as_its_denoiser(param):
    """``consistency_fn`` feeds the network the VP input at logsnr = -2 log sigma with its
    condition bound; with sigma_data = 1, sigma_min = 0 it is the network's own denoiser."""
    gen = torch.Generator().manual_seed(4)
    weight = torch.randn(6, 1, 16, generator=gen, dtype=torch.float64)

    def net(x_t, logsnr, scale):  # any deterministic network of (x_t, logsnr) and a condition
        return scale * torch.tanh(weight * x_t + logsnr.reshape(-1, 1, 1) / 10)

    x_tilde = torch.randn(6, 1, 16, generator=gen, dtype=torch.float64)
    sigma = torch.logspace(-2, 1.5, 6, dtype=torch.float64)
    f = consistency_fn(net, param, 0.0, 1.0, {"scale": 0.7})
    alpha = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1)
    expected = Denoiser(net, param)(alpha * x_tilde, -2 * torch.log(sigma), scale=0.7)
    torch.testing.assert_close(f(x_tilde, sigma), expected)
    assert torch.equal(consistency_fn(net, param, 0.01, 1.0, {"scale": 0.7})(x_tilde, torch.full((6,), 0.01,
                       dtype=torch.float64)), x_tilde)  # the boundary condition at sigma_min


def _gauss_ode_solution(x, m, s, sigma_from, sigma_to):
    """The PF-ODE of N(m, s^2) data is linear: x - m scales with sqrt(s^2 + sigma^2)."""
    return m + (x - m) * math.sqrt(s * s + sigma_to**2) / math.sqrt(s * s + sigma_from**2)


def test_teacher_ode_step_matches_the_exact_solution_within_solver_error():
    m, s = 0.3, 0.5
    den = edm_denoiser(gaussian(m, s).denoise)
    x_hi = torch.randn(16, 1, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2.0
    errors = {"heun": [], "euler": []}
    for h in (0.2, 0.1, 0.05):
        s_hi, s_lo = 1.0, 1.0 - h
        exact = _gauss_ode_solution(x_hi, m, s, s_hi, s_lo)
        for solver in errors:
            errors[solver].append(float((pf_ode_step(den, x_hi, s_hi, s_lo, solver) - exact).abs().max()))
    # local error orders: Heun h^3, Euler h^2
    for a, b in zip(errors["heun"][:-1], errors["heun"][1:]):
        assert 6.5 < a / b < 10.5, errors
    for a, b in zip(errors["euler"][:-1], errors["euler"][1:]):
        assert 3.0 < a / b < 5.5, errors
    assert errors["heun"][-1] < 1e-3 and errors["heun"][-1] < errors["euler"][-1] / 10


def _exact_consistency(m, s, sigma_min):
    def f(x, sigma):
        sig = sigma.to(torch.float64).reshape(-1, *([1] * (x.ndim - 1)))
        return m + (x - m) * math.sqrt(s * s + sigma_min**2) / torch.sqrt(s * s + sig**2)
    return f


def test_cd_target_with_an_exact_teacher_matches_the_exact_consistency_function():
    """With the exact teacher, one Heun step lands on the exact ODE solution up to its local
    error, so the CD target f(x_hat_i, sigma_i) equals f(x_{i+1}, sigma_{i+1}) up to that error
    (the consistency loss of the exact f is almost zero) and the gap shrinks like h^3."""
    m, s, sigma_min = 0.3, 0.5, 0.002
    f = _exact_consistency(m, s, sigma_min)
    den = edm_denoiser(gaussian(m, s).denoise)
    gaps = []
    for n in (18, 72):
        sig = karras_sigmas(n, sigma_min, 80.0)
        gen = torch.Generator().manual_seed(1)
        x0 = gaussian(m, s).sample((n - 1, 1, 32), gen)
        z = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        s_lo, s_hi = sig[:-1].reshape(-1, 1, 1), sig[1:].reshape(-1, 1, 1)
        x_hi = x0 + s_hi * z
        x_hat = pf_ode_step(den, x_hi, sig[1:], sig[:-1], "heun")
        exact = m + (x_hi - m) * torch.sqrt(s * s + s_lo**2) / torch.sqrt(s * s + s_hi**2)
        # one Heun step vs the exact solution: small relative to the step
        assert float(((x_hat - exact).abs() / (s_hi - s_lo)).max()) < (0.1 if n == 18 else 0.01)
        # the exact f is constant along the exact trajectory ...
        torch.testing.assert_close(f(exact, sig[:-1]), f(x_hi, sig[1:]), rtol=1e-12, atol=1e-12)
        # ... so the CD target with the exact teacher differs only by the Heun error
        gaps.append(float((f(x_hat, sig[:-1]) - f(x_hi, sig[1:])).abs().max()))
    assert gaps[0] < 0.02 and gaps[1] < gaps[0] / 20, gaps


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_consistency_sampling_with_the_exact_function_reproduces_the_data(steps):
    m, s, sigma_min, sigma_max = 0.3, 0.5, 0.002, 80.0
    f = _exact_consistency(m, s, sigma_min)
    sigmas = consistency_sigmas(steps, sigma_min, sigma_max)
    assert len(sigmas) == steps and sigmas[0] == sigma_max
    x = consistency_sample(f, (4000, 1, 50), sigmas, torch.Generator().manual_seed(steps),
                           sigma_min=sigma_min, dtype=torch.float64)
    assert abs(float(x.mean()) - m) < 0.01
    assert abs(float(x.std()) - s) < 0.01


def test_consistency_sampling_is_deterministic_given_the_generator_and_checks_levels():
    f = _exact_consistency(0.0, 1.0, 0.002)
    a = consistency_sample(f, (2, 1, 8), [80.0, 2.0], torch.Generator().manual_seed(0))
    b = consistency_sample(f, (2, 1, 8), [80.0, 2.0], torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.dtype == torch.float32
    with pytest.raises(ValueError, match="decrease"):
        consistency_sample(f, (2, 1, 8), [2.0, 80.0])


def test_noise_level_grids_and_curriculum():
    sig = karras_sigmas(11, 0.002, 80.0, 7.0)
    assert float(sig[0]) == 0.002 and float(sig[-1]) == 80.0 and (sig[1:] > sig[:-1]).all()
    total = 1000
    counts = [ict_num_scales(k, total, 10, 1280) for k in range(0, total, 10)]
    assert counts[0] == 11 and counts[-1] == 1281
    assert all(b >= a for a, b in zip(counts[:-1], counts[1:]))
    assert sorted(set(counts)) == [11, 21, 41, 81, 161, 321, 641, 1281]
    probs = scale_index_probs(karras_sigmas(641, 0.002, 80.0), "lognormal", -1.1, 2.0)
    assert abs(float(probs.sum()) - 1.0) < 1e-12
    centre = karras_sigmas(641, 0.002, 80.0)[int(torch.argmax(probs / torch.diff(torch.log(karras_sigmas(641, 0.002, 80.0)))))]
    assert abs(math.log(float(centre)) + 1.1) < 0.05  # density peak at ln sigma = p_mean
    idx = sample_scale_indices(10000, scale_index_probs(karras_sigmas(11, 0.002, 80.0), "uniform"),
                               torch.Generator().manual_seed(0))
    assert idx.min() == 0 and idx.max() == 9
    w = consistency_loss_weight(sig[:-1], sig[1:])
    assert (w[1:] < w[:-1]).all()  # finer spacing at low noise -> larger weight


def test_pseudo_huber_is_l2_near_zero_and_l1_far_away():
    d = 1000
    x = torch.zeros(2, 1, d)
    small = torch.full((2, 1, d), 1e-5)
    large = torch.full((2, 1, d), 0.5)
    c = 0.00054
    # the textbook form with c_d = c sqrt(d) on the full vector, divided by sqrt(d)
    ref = (torch.sqrt(((large - x) ** 2).sum((1, 2)) + (c * math.sqrt(d)) ** 2) - c * math.sqrt(d)) / math.sqrt(d)
    torch.testing.assert_close(pseudo_huber(large, x, c), ref)
    assert torch.allclose(pseudo_huber(small, x, c), torch.full((2,), 1e-10 / (2 * c)), rtol=1e-2)
    assert torch.allclose(pseudo_huber(large, x, c), torch.full((2,), 0.5), rtol=1e-2)


def test_sigma_range_stays_inside_the_schedule():
    lo, hi = sigma_range(get_schedule("cosine"))
    assert (lo, hi) == (0.002, 80.0)
    lo, hi = sigma_range(get_schedule("linear_beta"))  # DiffWave betas: logsnr in [-0.95, 9.2]
    assert lo == 0.002 and 1.5 < hi < 1.7
    assert consistency_sigmas(2, lo, hi)[0] == hi
