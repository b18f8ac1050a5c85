"""Classifier-free guidance (Ho & Salimans 2022) as a wrapper around a denoiser.

``x0_guided = x0_uncond + w * (x0_cond - x0_uncond)``: ``w = 1`` is the plain conditional
model, ``w = 0`` the unconditional one, ``w > 1`` sharpens towards the condition. For a fixed
``x_t`` the maps between ``x0_hat``, ``eps_hat`` and ``v_hat`` are affine with the same
coefficients for both branches, so guiding in x0 is identical to guiding in eps or v.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

Tensor = torch.Tensor


def _cat_cond(cond: dict[str, Any], uncond: dict[str, Any]) -> dict[str, Any]:
    if set(cond) != set(uncond):
        raise ValueError(f"cond and uncond must have the same keys, got {sorted(cond)} and {sorted(uncond)}")
    merged = {}
    for key in cond:
        a, b = cond[key], uncond[key]
        if a is None and b is None:
            merged[key] = None
        elif isinstance(a, Tensor) and isinstance(b, Tensor):
            merged[key] = torch.cat([a, b], dim=0)
        else:
            raise ValueError(f"conditioning {key!r} must be a batched tensor in both branches")
    return merged


def classifier_free_guidance(
    denoise_fn: Callable[..., Tensor],
    scale: float,
    cond: dict[str, Any],
    uncond: dict[str, Any],
    clip: float | None = None,
) -> Callable[[Tensor, Tensor], Tensor]:
    """Bind conditioning and guidance scale: returns ``(x_t, logsnr) -> x0_guided``.

    Args:
        denoise_fn: ``denoise_fn(x_t, logsnr, **cond) -> x0_hat``.
        scale: guidance weight ``w``.
        cond / uncond: keyword conditioning of each branch, e.g.
            ``{"class_label": labels}`` and ``{"class_label": full_like(labels, null_class)}``.
        clip: if given, the guided ``x0`` is clamped to ``[-clip, clip]`` (the range the data
            can take; static thresholding). The extrapolation ``u + w (c - u)`` leaves that
            range for large ``w``, and a stochastic sampler can feed the excess back into
            every later step until the samples are no longer finite.

    Both branches run in one batched call (2B examples) when ``scale`` is not 0 or 1.
    """
    if scale == 1.0:
        return lambda x, logsnr: denoise_fn(x, logsnr, **cond)
    if scale == 0.0:
        return lambda x, logsnr: denoise_fn(x, logsnr, **uncond)
    both = _cat_cond(cond, uncond)

    def guided(x: Tensor, logsnr: Tensor) -> Tensor:
        out = denoise_fn(torch.cat([x, x]), torch.cat([logsnr, logsnr]), **both)
        x0_cond, x0_uncond = out.chunk(2, dim=0)
        x0 = x0_uncond + scale * (x0_cond - x0_uncond)
        return x0 if clip is None else x0.clamp(-clip, clip)

    return guided
