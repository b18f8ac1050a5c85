"""Converters that bring checkpoints of other diffusion-vocoder code bases into wavediff.

>>> from wavediff.importers import import_diffwave
>>> import_diffwave("diffwave-ljspeech-22kHz-1000578.pt", "diffwave-lj.ckpt")   # -> Path

A converted checkpoint is an ordinary wavediff checkpoint: ``vocode``, ``evaluate``,
``tune-schedule``, ``distill`` and ``train --init-from`` take it.
"""

from .diffwave import DiffWaveImportError, convert_diffwave_state, import_diffwave

__all__ = ["DiffWaveImportError", "convert_diffwave_state", "import_diffwave"]
