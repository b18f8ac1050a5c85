"""The recipe's ``sample.grid`` goes with the recipe's sampler: a grid kind applies at every
step count, a named grid (which fixes its own step count) when none or its own is asked for;
``generate``, the vocoder and the evaluation report all follow the same rule."""

import pytest
import torch

from wavediff.diffusion.samplers import default_grid
from wavediff.train.config import SampleConfig, load_recipe
from wavediff.train.run import build_module

NET = {"residual_layers": 2, "residual_channels": 8, "dilation_cycle": 2, "embedding_dim": 16, "mlp_dim": 32}


def test_grid_for_rules():
    kind = SampleConfig(steps=16, method="ddpm", grid="uniform_logsnr")
    assert kind.grid_for(None, None) == "uniform_logsnr"
    assert kind.grid_for("ddpm", 4) == "uniform_logsnr"  # any step count
    assert kind.grid_for("ddim", 4) is None  # another sampler keeps its own default
    named = SampleConfig(steps=6, method="ddpm", grid="diffwave6")
    assert named.grid_for(None, None) == "diffwave6"
    assert named.grid_for("ddpm", 6) == "diffwave6"  # its own step count
    assert named.grid_for("ddpm", 4) is None  # 4 steps cannot be the 6-step named grid
    assert SampleConfig(method="ddpm").grid_for("ddpm", 4) is None


def _module(tmp_path, *overrides):
    recipe = load_recipe("demo", [f"data.root={tmp_path}", "model.preset=tiny", f"model.overrides={NET}",
                                                          *overrides])
    return build_module(recipe, 16000, None, ["a", "b"], None)


@pytest.fixture
def seen_grids(monkeypatch):
    seen = []
    import wavediff.diffusion.samplers as samplers

    real = samplers.step_grid

    def spy(schedule, steps=None, kind="uniform_t", **kw):
        seen.append((steps, kind))
        return real(schedule, steps, kind, **kw)

    monkeypatch.setattr(samplers, "step_grid", spy)
    return seen


def test_generate_uses_the_recipe_grid_kind_at_any_step_count(tmp_path, seen_grids):
    module = _module(tmp_path, "sample.method=ddpm", "sample.grid=uniform_logsnr")
    labels = torch.tensor([0, 1])
    module.generate(2, 256, steps=3, class_label=labels, generator=torch.Generator().manual_seed(0))
    module.generate(2, 256, class_label=labels, generator=torch.Generator().manual_seed(0))
    module.generate(2, 256, steps=3, method="ddim", class_label=labels)
    module.generate(2, 256, steps=3, class_label=labels, grid="karras")  # asked for: wins
    assert seen_grids == [(3, "uniform_logsnr"), (module.recipe.sample.steps, "uniform_logsnr"),
                          (3, "uniform_t"), (3, "karras")]


def test_a_named_recipe_grid_only_at_its_own_step_count(tmp_path, seen_grids):
    module = _module(tmp_path, "sample.method=ddpm", "sample.grid=diffwave6", "sample.steps=6")
    labels = torch.tensor([0, 1])
    module.generate(2, 256, class_label=labels)
    module.generate(2, 256, steps=6, class_label=labels)
    module.generate(2, 256, steps=2, class_label=labels)
    assert seen_grids == [(None, "diffwave6"), (None, "diffwave6"), (2, "uniform_t")]


def test_a_named_grid_refuses_another_step_count(tmp_path):
    module = _module(tmp_path, "sample.method=ddpm")
    with pytest.raises(ValueError, match="--grid diffwave6 has 6 steps"):
        module.generate(2, 256, steps=4, grid="diffwave6", class_label=torch.tensor([0, 1]))


def test_the_evaluation_reports_the_grid_it_sampled_on(tmp_path):
    from wavediff.eval.models import Run

    module = _module(tmp_path, "sample.method=ddpm", "sample.grid=uniform_logsnr")

    class Spec:
        kind = "plain"

        def module(self, steps, device):
            return module

        def checkpoint(self, steps):
            return "x.ckpt"

    assert Run(Spec(), "ddpm", 4).settings()["grid"] == "uniform_logsnr"
    assert Run(Spec(), "ddim", 4).settings()["grid"] == "uniform_t"
    assert Run(Spec(), "dpmpp_2m", 4).settings()["grid"] == default_grid("dpmpp_2m", module.schedule) == "uniform_t"


def test_the_vocoder_follows_the_same_rule(tmp_path, seen_grids):
    from wavediff.train.run import resolve_mel
    from wavediff.vocoder import Vocoder

    recipe = load_recipe("tiny-vocoder", [
        f"data.root={tmp_path}", "model.preset=tiny", f"model.overrides={NET}", "sample.method=ddpm", "sample.grid=uniform_logsnr"])
    voc = Vocoder(build_module(recipe, 16000, resolve_mel(recipe), None, None).eval())
    mel = voc.mel(torch.zeros(1, 1024))
    voc.vocode(mel, 3)
    voc.vocode(mel)
    voc.vocode(mel, 3, "ddim")
    steps = recipe.sample.steps
    assert seen_grids == [(3, "uniform_logsnr"), (steps, "uniform_logsnr"), (3, "uniform_t")]


def test_a_recipe_grid_must_be_a_known_grid(tmp_path):
    from wavediff.train.config import RecipeError

    for bad in ("sample.grid=zigzag", "sample.grid=[1.0, 2.0]"):
        with pytest.raises(RecipeError, match="sample.grid = .*choose one of .*uniform_logsnr.*diffwave6"):
            load_recipe("demo", [bad])
    assert load_recipe("demo", ["sample.grid=null"]).sample.grid is None
