import math
import warnings

import pytest
import torch

from wavediff.diffusion import (
    Denoiser,
    diffusion_loss,
    eps_mse_factor,
    from_x0,
    get_schedule,
    get_weighting,
    target,
    to_x0_eps,
    weighting_from_config,
)
from wavediff.diffusion.objective import bin_by_logsnr, bin_labels, logsnr_bin_edges
from wavediff.diffusion.time_sampling import sample_time
from wavediff.diffusion.weighting import canonical_weighting


def _batch(seed=0, shape=(5, 1, 64)):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape, generator=g, dtype=torch.float64) * 0.3
    eps = torch.randn(shape, generator=g, dtype=torch.float64)
    logsnr = torch.linspace(-12, 12, shape[0], dtype=torch.float64)
    alpha = torch.sigmoid(logsnr).sqrt().view(-1, 1, 1)
    sigma = torch.sigmoid(-logsnr).sqrt().view(-1, 1, 1)
    return x0, eps, logsnr, alpha, sigma


@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_round_trip(param):
    x0, eps, logsnr, a, s = _batch()
    x_t = a * x0 + s * eps
    out = target(param, x0, eps, a, s)
    x0_hat, eps_hat = to_x0_eps(param, out, x_t, a, s)
    assert torch.allclose(x0_hat, x0, atol=1e-8)
    assert torch.allclose(eps_hat, eps, atol=1e-8)
    assert torch.allclose(from_x0(param, x0_hat, x_t, a, s), out, atol=1e-8)


def test_v_definition():
    x0, eps, logsnr, a, s = _batch()
    assert torch.allclose(target("v", x0, eps, a, s), a * eps - s * x0)


@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_mse_equivalences(param):
    """x0-MSE = eps-MSE * exp(-logsnr); v-MSE = eps-MSE / alpha^2, for any wrong prediction."""
    x0, eps, logsnr, a, s = _batch(1)
    x_t = a * x0 + s * eps
    g = torch.Generator().manual_seed(3)
    wrong = target(param, x0, eps, a, s) + 0.1 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x0_hat, eps_hat = to_x0_eps(param, wrong, x_t, a, s)
    v_hat = from_x0("v", x0_hat, x_t, a, s)
    eps_mse = (eps - eps_hat).pow(2).flatten(1).mean(1)
    x0_mse = (x0 - x0_hat).pow(2).flatten(1).mean(1)
    v_mse = (target("v", x0, eps, a, s) - v_hat).pow(2).flatten(1).mean(1)
    assert torch.allclose(x0_mse, eps_mse * torch.exp(-logsnr), rtol=1e-8)
    assert torch.allclose(v_mse, eps_mse / a.flatten() ** 2, rtol=1e-8)
    native = {"eps": eps_mse, "x0": x0_mse, "v": v_mse}[param]
    assert torch.allclose(eps_mse_factor(param, logsnr) * native, eps_mse, rtol=1e-8)


def test_denoiser_wrapper_any_parameterisation():
    x0, eps, logsnr, a, s = _batch(2)
    x_t = a * x0 + s * eps
    for param in ("eps", "x0", "v"):
        oracle = lambda x, l, p=param: target(p, x0, eps, a, s)
        den = Denoiser(oracle, param)
        assert torch.allclose(den(x_t, logsnr), x0, atol=1e-8)
    clipped = Denoiser(lambda x, l: torch.full_like(x, 3.0), "x0", clip_x0=1.0)
    x0_hat, eps_hat = clipped.predict(x_t, logsnr)
    assert x0_hat.max() == 1.0
    assert torch.allclose(a * x0_hat + s * eps_hat, x_t)
    with pytest.raises(ValueError, match="parameterisation"):
        Denoiser(lambda x, l: x, "score")


def test_weighting_presets_as_functions_of_logsnr():
    l = torch.linspace(-10, 10, 21, dtype=torch.float64)
    sched = get_schedule("cosine")
    snr = torch.exp(l)
    # weight w on the x0-MSE = w / SNR on the eps-MSE; the comments name the same loss in the
    # progressive-distillation (PD) and consistency-models (CM) code
    assert torch.equal(get_weighting("eps")(l), torch.ones_like(l))  # w = SNR: PD, CM "snr"
    assert torch.allclose(get_weighting("x0")(l), 1 / snr)  # w = 1: PD "constant", CM "uniform"
    assert torch.allclose(get_weighting("v")(l), 1 / torch.sigmoid(l))  # 1/alpha^2; w = SNR + 1: PD "v_mse", CM "snr+1"
    assert torch.allclose(get_weighting("min_snr", gamma=5.0)(l), torch.minimum(snr, torch.tensor(5.0)) / snr)
    # w = max(SNR, 1): PD "snr_trunc", CM "truncated-snr"
    assert torch.allclose(get_weighting("snr_trunc")(l), torch.maximum(snr, torch.tensor(1.0)) / snr)
    # w = SNR + 1 / sigma_data^2: CM "karras"
    assert torch.allclose(get_weighting("edm", sigma_data=0.5)(l), (snr + 1 / 0.25) / snr)
    t = sched.t_from_logsnr(l)
    assert torch.allclose(get_weighting("elbo")(l, sched), -0.5 * sched.dlogsnr_dt(t))
    assert torch.allclose(get_weighting("sigmoid", bias=2.0)(l, sched),
                          -0.5 * sched.dlogsnr_dt(t) * torch.sigmoid(2.0 - l))
    with pytest.raises(ValueError, match="pass the schedule"):
        get_weighting("elbo")(l)
    with pytest.raises(ValueError, match="unknown weighting"):
        get_weighting("p2")
    with pytest.raises(ValueError, match="takes"):
        get_weighting("eps", gamma=1)
    custom = get_weighting(lambda logsnr: logsnr.abs())
    assert torch.equal(custom(l), l.abs())


def test_the_former_name_snr_warns_and_is_the_x0_weighting():
    """``snr`` was this code base's name for the x0-MSE; reference code (progressive
    distillation, consistency models) uses it for the eps-MSE, so reading it warns loudly."""
    l = torch.linspace(-10, 10, 21, dtype=torch.float64)
    with pytest.warns(FutureWarning, match="'snr' is now called 'x0'.*'eps' here"):
        old = get_weighting("snr")
    assert old.name == "x0" and old.config() == {"name": "x0"}
    assert torch.equal(old(l), get_weighting("x0")(l))
    with pytest.warns(FutureWarning, match="now called 'x0'"):
        assert weighting_from_config({"name": "snr"}).name == "x0"
    with pytest.warns(FutureWarning, match="now called 'x0'"):
        assert canonical_weighting("snr") == "x0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current names never warn
        assert canonical_weighting({"name": "min_snr", "gamma": 2.0}) == {"name": "min_snr", "gamma": 2.0}
        assert get_weighting("snr_trunc").name == "snr_trunc"
    with pytest.raises(ValueError, match="unknown weighting"):
        canonical_weighting("truncated-snr")
    with pytest.raises(ValueError, match="preset name"):
        canonical_weighting(3)


def test_elbo_weighting_is_schedule_invariant_per_unit_logsnr():
    """E_t[lambda_elbo(t) f(logsnr(t))] = 1/2 int f dlogsnr for any schedule with the same range."""
    f = lambda l: torch.exp(-0.1 * (l - 1.0) ** 2)
    vals = []
    for name in ("cosine", "edm"):
        sched = get_schedule(name) if name == "cosine" else get_schedule("edm", sigma_min=math.exp(-7.5), sigma_max=math.exp(7.5))
        t = (torch.arange(200000, dtype=torch.float64) + 0.5) / 200000
        l = sched.logsnr(t)
        vals.append(float((get_weighting("elbo")(l, sched) * f(l)).mean()))
    ls = torch.linspace(-15, 15, 200001, dtype=torch.float64)
    exact = 0.5 * float(torch.trapezoid(f(ls), ls))
    assert vals[0] == pytest.approx(exact, rel=1e-3)
    assert vals[1] == pytest.approx(exact, rel=1e-3)


@pytest.mark.parametrize("param,weighting", [("eps", "eps"), ("x0", "x0"), ("v", "v")])
def test_objective_native_mse(param, weighting):
    """Each parameterisation with its matching weighting is its plain regression loss."""
    sched = get_schedule("cosine")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(8, 1, 32, generator=g) * 0.5
    noise = torch.randn(8, 1, 32, generator=g)
    t = torch.rand(8, generator=g)
    net = lambda x, l: 0.9 * x  # some imperfect prediction
    out = diffusion_loss(net, x0, sched, parameterisation=param, weighting=weighting, t=t, noise=noise)
    l = sched.logsnr(t)
    a, s = torch.sigmoid(l).sqrt().view(-1, 1, 1), torch.sigmoid(-l).sqrt().view(-1, 1, 1)
    x_t = a * x0 + s * noise
    native = (net(x_t, l) - target(param, x0, noise, a, s)).pow(2).flatten(1).mean(1)
    assert torch.allclose(out.per_example, native, rtol=1e-5)
    assert out.loss.shape == () and torch.allclose(out.loss, native.mean(), rtol=1e-5)


def test_objective_weightings_agree_across_parameterisations():
    """The same (imperfect) x0_hat gives the same weighted loss whatever the parameterisation."""
    sched = get_schedule("cosine")
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(6, 1, 16, generator=g, dtype=torch.float64)
    noise = torch.randn(6, 1, 16, generator=g, dtype=torch.float64)
    t = torch.rand(6, generator=g)
    x0_guess = lambda x, l: 0.5 * x

    def net_for(param):
        def net(x, l):
            a, s = torch.sigmoid(l).sqrt().view(-1, 1, 1), torch.sigmoid(-l).sqrt().view(-1, 1, 1)
            return from_x0(param, x0_guess(x, l), x, a, s)
        return net

    losses = [diffusion_loss(net_for(p), x0, sched, parameterisation=p, weighting="min_snr", t=t, noise=noise).per_example
              for p in ("eps", "x0", "v")]
    assert torch.allclose(losses[0], losses[1], rtol=1e-5) and torch.allclose(losses[0], losses[2], rtol=1e-5)


def test_objective_backprop_and_bins():
    sched = get_schedule("cosine")
    w = torch.nn.Parameter(torch.tensor(0.5))
    x0 = torch.randn(32, 1, 16)
    out = diffusion_loss(lambda x, l: w * x, x0, sched, parameterisation="v", weighting="elbo",
                         time_sampling="stratified", generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert w.grad is not None and torch.isfinite(w.grad)
    edges = logsnr_bin_edges(sched, 4)
    sums, counts = bin_by_logsnr(out.logsnr, out.eps_mse, edges)
    assert counts.sum() == 32 and torch.allclose(sums.sum(), out.eps_mse.double().sum())
    assert len(bin_labels(edges)) == 4 and bin_labels(edges)[0].startswith("logsnr[-15.0")


def test_time_samplers():
    sched = get_schedule("cosine")
    g = torch.Generator().manual_seed(0)
    t = sample_time(1000, "stratified", generator=g)
    assert t.shape == (1000,) and t.min() >= 0 and t.max() < 1
    # one point per stratum
    assert torch.equal(torch.sort((t * 1000).floor()).values, torch.arange(1000, dtype=torch.float32))
    u = sample_time(20000, "uniform", generator=g)
    assert abs(float(u.mean()) - 0.5) < 0.01
    ln = sample_time(20000, "lognormal", schedule=sched, generator=g)
    log_sigma = -0.5 * sched.logsnr(ln.double())
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.05)
    assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.05)
    with pytest.raises(ValueError, match="unknown time sampling"):
        sample_time(4, "sobol")
