"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny networks: faster than two for such small
    tensors and immune to a busy machine. The previous setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_class_run(tmp_path_factory):
    """A 4-step class-conditional demo run (tiny network): ``{"ckpt", "out", "demo", "overrides"}``;
    ``overrides`` reproduce its recipe from the packaged ``demo`` recipe."""
    from tiny_runs import TINY_NET, SMALL
    from wavediff.train.config import load_recipe
    from wavediff.train.run import train

    tmp = tmp_path_factory.mktemp("tiny_class")
    overrides = [*TINY_NET, *SMALL, f"data.root={tmp / 'demo'}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
                 "sample.steps=2", "trainer.max_steps=4", "trainer.val_every=4", "trainer.checkpoint_every=4"]
    ckpt = train(load_recipe("demo", overrides), tmp / "run", progress=False)
    return {"ckpt": ckpt, "out": tmp / "run", "demo": tmp / "demo", "overrides": overrides}


@pytest.fixture(scope="session")
def tiny_vocoder_run(tmp_path_factory):
    """A 2-step mel vocoder on the demo corpus (tiny network): ``{"ckpt", "demo"}``."""
    from tiny_runs import TINY_NET, SMALL
    from wavediff.train.config import load_recipe
    from wavediff.train.run import train

    tmp = tmp_path_factory.mktemp("tiny_vocoder")
    overrides = [*TINY_NET, *SMALL, f"data.root={tmp / 'demo'}", "data.options={clips_per_class: 2, clip_seconds: 0.25}",
                 "sample.steps=2", "trainer.max_steps=2", "trainer.val_every=2", "trainer.checkpoint_every=2"]
    ckpt = train(load_recipe("tiny-vocoder", overrides), tmp / "run", progress=False)
    return {"ckpt": ckpt, "demo": tmp / "demo"}
