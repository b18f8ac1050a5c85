"""Loss weighting lambda(t): the weight on the eps-MSE at time t, with t sampled uniformly.

Every preset is a function of ``logsnr`` (and, for the ELBO-based ones, of the schedule's
speed ``dlogsnr/dt``), so it can be plotted over logsnr. The equivalences that tie the
parameterisations together (see ``parameterisation.eps_mse_factor``):

* x0-MSE = eps-MSE * exp(-logsnr)  -> preset ``x0`` (lambda = exp(-logsnr)) is the plain x0 loss;
* v-MSE  = eps-MSE / alpha^2       -> preset ``v`` (lambda = 1 + exp(-logsnr)) is the plain v loss;
* preset ``eps`` (lambda = 1) is the DDPM / DiffWave loss.

Presets, with the names the same loss has in two reference code bases that weight the
x0-MSE instead: progressive distillation (Salimans & Ho 2022, ``mean_loss_weight_type``)
and consistency models (Song et al. 2023, ``weight_schedule``; there SNR = 1/sigma^2):

=============  ==========================================================  ===============  ==================
preset         lambda (weight on the eps-MSE)                              progressive      consistency
=============  ==========================================================  ===============  ==================
``eps``        1: the eps-MSE (DDPM, DiffWave)                             ``snr``          ``snr``
``x0``         exp(-logsnr) = 1/SNR: the x0-MSE                            ``constant``     ``uniform``
``snr_trunc``  max(1, exp(-logsnr)): x0-MSE weighted by max(SNR, 1)        ``snr_trunc``    ``truncated-snr``
``v``          1 + exp(-logsnr) = 1/alpha^2: the v-MSE                     ``v_mse``        ``snr+1``
``min_snr``    min(1, gamma exp(-logsnr)): x0-MSE weighted by              -                -
               min(SNR, gamma) (Hang et al. 2023, "Min-SNR-gamma")
``elbo``       -1/2 dlogsnr/dt: the continuous-time VDM bound              -                -
               (Kingma et al. 2021)
``edm``        1 + exp(-logsnr) / sigma_data^2: EDM's lambda(sigma) *      -                ``karras``
               sigma^2 (Karras et al. 2022); EDM itself with
               ``lognormal`` time sampling
``sigmoid``    -1/2 dlogsnr/dt * sigmoid(bias - logsnr)                    -                -
               (Kingma & Gao 2023)
=============  ==========================================================  ===============  ==================

So ``snr`` in those code bases is ``eps`` here, not the x0-MSE. ``snr`` is still read here as
a former name of ``x0`` (``RENAMED_WEIGHTINGS``), with a ``FutureWarning`` that says so.

The ELBO-based presets are the same weighting *per unit of logsnr* whatever the schedule,
which is why they need ``dlogsnr/dt``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

import torch

from .schedules import Schedule

Tensor = torch.Tensor
WeightFn = Callable[..., Tensor]

WEIGHTINGS: tuple[str, ...] = ("eps", "x0", "snr_trunc", "v", "min_snr", "elbo", "edm", "sigmoid")
#: former preset names that are still read, each with the name it has now
RENAMED_WEIGHTINGS: dict[str, str] = {"snr": "x0"}


class Weighting:
    """A loss weighting ``lambda(logsnr)``; call as ``w(logsnr, schedule=None)`` -> tensor.

    Build with ``get_weighting(name, **params)`` or wrap a user callable ``f(logsnr)`` or
    ``f(logsnr, schedule)``.
    """

    def __init__(self, name: str, fn: WeightFn, params: dict[str, Any] | None = None,
                 needs_schedule: bool = False) -> None:
        self.name = name
        self.fn = fn
        self.params = dict(params or {})
        self.needs_schedule = needs_schedule

    def __call__(self, logsnr: Tensor, schedule: Schedule | None = None) -> Tensor:
        if self.needs_schedule:
            if schedule is None:
                raise ValueError(f"weighting {self.name!r} depends on dlogsnr/dt: pass the schedule")
            return self.fn(logsnr, schedule)
        return self.fn(logsnr)

    def config(self) -> dict[str, Any]:
        if self.name == "custom":
            raise ValueError("a custom weighting callable cannot be stored in a config")
        return {"name": self.name, **self.params}

    def __repr__(self) -> str:
        return f"Weighting({self.name!r}, {self.params})"


def _elbo_speed(logsnr: Tensor, schedule: Schedule) -> Tensor:
    """-1/2 dlogsnr/dt evaluated at t(logsnr)."""
    t = schedule.t_from_logsnr(logsnr)
    return -0.5 * schedule.dlogsnr_dt(t).to(logsnr.dtype)


def _current_name(name: str) -> str:
    """``name``, or the current name of a renamed preset (with a ``FutureWarning``: the old
    name means another loss in the reference code a user may be copying from)."""
    new = RENAMED_WEIGHTINGS.get(name)
    if new is None:
        return name
    warnings.warn(f"weighting {name!r} is now called {new!r} (lambda = exp(-logsnr): the plain x0-MSE); the old "
                  f"name will be removed. In progressive-distillation and consistency-models code {name!r} is the "
                  f"eps-MSE, which is 'eps' here", FutureWarning, stacklevel=3)
    return new


def get_weighting(name: str | Weighting | WeightFn = "eps", **params: Any) -> Weighting:
    """A weighting by name (see module docstring), or a ``Weighting`` from a callable.

    Parameters: ``min_snr``: ``gamma`` (default 5); ``edm``: ``sigma_data`` (default 0.5);
    ``sigmoid``: ``bias`` (default 2, in nats of logsnr). A former name
    (``RENAMED_WEIGHTINGS``) gives the preset under its current name, with a ``FutureWarning``."""
    if isinstance(name, Weighting):
        return name
    if callable(name):
        n_args = len(inspect.signature(name).parameters)
        return Weighting("custom", name, needs_schedule=n_args >= 2)
    name = _current_name(name)
    allowed = {"min_snr": {"gamma"}, "edm": {"sigma_data"}, "sigmoid": {"bias"}}.get(name, set())
    if name not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {name!r}; choose one of {list(WEIGHTINGS)} or pass a callable")
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"weighting {name!r} takes {sorted(allowed) or 'no parameters'}, got {sorted(unknown)}")
    if name == "eps":
        return Weighting(name, torch.ones_like)
    if name == "x0":
        return Weighting(name, lambda l: torch.exp(-l))
    if name == "snr_trunc":
        return Weighting(name, lambda l: torch.exp(-l).clamp(min=1.0))
    if name == "v":
        return Weighting(name, lambda l: 1.0 + torch.exp(-l))
    if name == "min_snr":
        gamma = float(params.get("gamma", 5.0))
        return Weighting(name, lambda l: (gamma * torch.exp(-l)).clamp(max=1.0), {"gamma": gamma})
    if name == "edm":
        sd = float(params.get("sigma_data", 0.5))
        return Weighting(name, lambda l: 1.0 + torch.exp(-l) / sd**2, {"sigma_data": sd})
    if name == "elbo":
        return Weighting(name, _elbo_speed, needs_schedule=True)
    bias = float(params.get("bias", 2.0))
    return Weighting(name, lambda l, s: _elbo_speed(l, s) * torch.sigmoid(bias - l),
                     {"bias": bias}, needs_schedule=True)


def weighting_from_config(config: dict[str, Any] | str) -> Weighting:
    """The weighting of a stored config: a preset name, or ``{"name": preset, **params}``."""
    if isinstance(config, str):
        return get_weighting(config)
    config = dict(config)
    return get_weighting(config.pop("name"), **config)


def canonical_weighting(config: dict[str, Any] | str) -> dict[str, Any] | str:
    """``config`` (as ``weighting_from_config`` takes it) checked, with a former preset name
    replaced by the current one (``FutureWarning``); the same form otherwise.

    Raises:
        ValueError: not a preset name or mapping, an unknown preset or parameter.
    """
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        config = {**config, "name": _current_name(config["name"])}
    elif isinstance(config, str):
        config = _current_name(config)
    else:
        raise ValueError(f"a weighting is a preset name or {{name: preset, <parameter>: value}}, got {config!r}")
    weighting_from_config(config)
    return config
