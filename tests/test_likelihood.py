"""The VDM bound with the exact denoiser equals the exact negative log-likelihood (the
continuous-time bound is tight when the denoiser is exact and the logsnr range is wide)."""

import math

import pytest
import torch

from exact_denoisers import GaussianMixture, gaussian
from wavediff.diffusion import get_schedule, vdm_bound

# 64 examples x 256 values, 128 stratified logsnr draws: the estimate's standard error on the
# batch mean is about 0.013 bits, so 0.04 bits is a 3-sigma tolerance.
TOL_BITS = 0.04


def _data(dist, seed=0):
    x0 = dist.sample((64, 1, 256), torch.Generator().manual_seed(seed))
    nll_bits = dist.nll(x0).flatten(1).mean(1) / math.log(2)
    return x0, nll_bits


@pytest.mark.parametrize("dist", [gaussian(0.3, 0.5), GaussianMixture([0.3, 0.7], [-0.6, 0.5], [0.1, 0.2])],
                         ids=["gaussian", "mixture"])
def test_bound_matches_exact_nll(dist):
    x0, nll = _data(dist)
    sched = get_schedule("cosine")
    b = vdm_bound(dist.denoise, x0, sched, num_t=128, generator=torch.Generator().manual_seed(0))
    assert set(b) == {"total", "prior", "recon", "diffusion"} and b["total"].shape == (64,)
    assert torch.allclose(b["total"], b["prior"] + b["recon"] + b["diffusion"])
    assert abs(float((b["total"] - nll).mean())) < TOL_BITS
    assert float((b["total"] - nll).abs().max()) < 0.5
    # reproducible with a fixed seed
    again = vdm_bound(dist.denoise, x0, sched, num_t=128, generator=torch.Generator().manual_seed(0))
    assert torch.equal(b["total"], again["total"])


def test_wrong_denoiser_gives_a_looser_bound():
    true, wrong = gaussian(0.3, 0.5), gaussian(0.0, 0.8)
    x0, nll = _data(true, seed=1)
    b = vdm_bound(wrong.denoise, x0, get_schedule("cosine"), num_t=128, generator=torch.Generator().manual_seed(0))
    assert float((b["total"] - nll).mean()) > 5 * TOL_BITS


def test_prior_term_for_a_short_schedule():
    """DiffWave's betas stop at logsnr ~ -0.95: the prior KL is large but the bound stays valid."""
    dist = gaussian(0.3, 0.5)
    x0, nll = _data(dist, seed=2)
    sched = get_schedule("linear_beta")
    b = vdm_bound(dist.denoise, x0, sched, num_t=128, generator=torch.Generator().manual_seed(0))
    a2 = 1 / (1 + math.exp(-sched.logsnr_min))
    s2 = 1 - a2
    expected_prior = 0.5 * (s2 + a2 * x0.pow(2) - 1 - math.log(s2)).flatten(1).mean(1) / math.log(2)
    assert torch.allclose(b["prior"], expected_prior)
    assert float(b["prior"].mean()) > 0.1
    # with the exact denoiser the only slack left is the marginal mismatch KL(q(z_1) || N(0, 1))
    mean, var = math.sqrt(a2) * 0.3, a2 * 0.25 + s2
    gap_bits = 0.5 * (var + mean**2 - 1 - math.log(var)) / math.log(2)
    assert abs(float((b["total"] - nll).mean()) - gap_bits) < TOL_BITS


def test_discretised_decoder_for_16_bit_audio():
    dist = gaussian(0.3, 0.5)
    x0, nll = _data(dist)
    width = 2.0 / 2**16
    b = vdm_bound(dist.denoise, x0, get_schedule("cosine"), num_t=128, generator=torch.Generator().manual_seed(0),
                  bin_width=width)
    # P(bin) ~ p(x) * width when the bin is narrow compared with the data density
    assert abs(float((b["total"] - (nll - math.log2(width))).mean())) < TOL_BITS
    assert (b["recon"] >= 0).all()
