"""``wavediff distill``: few-step students from a trained teacher, stage by stage.

Methods (``recipe.distill.method``):

* ``progressive`` (Salimans & Ho 2022): rounds ``N -> N/2 -> ... -> target`` steps on the
  teacher's ``uniform_t`` DDIM grid. Each round is a stage with its own folder; its student
  starts from the teacher's EMA weights and the next round's teacher is this round's EMA
  student. Guidance of a class-conditional teacher is distilled in during the first round:
  the student is conditional-only and samples with ``sample(..., steps=K, method="ddim")``.
* ``consistency_distillation`` (Song et al. 2023): a consistency function
  ``f = c_skip x + c_out F`` whose target is ``f_target(x_hat_i, sigma_i)``, ``x_hat_i`` one
  Heun (or Euler) probability-flow step of the teacher from ``sigma_{i+1}``.
* ``consistency_training`` (Song & Dhariwal 2023): the same without a teacher, the pair
  sharing one noise draw (``x_sigma = x0 + sigma z``), with the doubling curriculum of noise
  levels. A teacher checkpoint, when given, only supplies the network and its initial weights.

Students are ``DiffusionModule`` checkpoints (``load_module`` loads them; the EMA student is
``module.ema.model``) that record ``checkpoint["wavediff"]["distilled"]``:
``{"method": "progressive", "steps": K, "logsnr_grid": [...K finite values]}`` or
``{"method": "consistency_...", "steps": S, "sigmas": [...], "sigma_min": ..., ...}``; their
stored recipe has ``distill.method`` set and ``sample.steps`` / ``sample.method`` for the
student. ``wavediff.sampling`` samples any of them the right way.

The methods' modules are ``progressive.py`` and ``consistency.py`` (on ``student.py``); this
module runs their stages, each with the Trainer of ``wavediff train`` (``trainer.py``).

Output folder layout::

    OUT/recipe.yaml, OUT/split.json          the resolved recipe and the corpus split
    OUT/distill.json                          stages, checkpoints and last validation metrics
    OUT/round_K/checkpoints/last.ckpt         progressive: the K-step student (from 2K steps)
    OUT/round_K/samples/, OUT/round_K/logs/   audio at each validation, metrics
    OUT/checkpoints/last.ckpt                 consistency: the student (samples/, logs/ beside)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L

from ..checkpoint_io import load_checkpoint
from ..diffusion.distillation import progressive_rounds, sigma_range
from ..diffusion.schedules import schedule_from_config
from ..sampling import PROGRESSIVE_GRID, model_kind
from .config import Recipe, RecipeError, recipe_from_dict, write_text_atomic
from .consistency import ConsistencyModule
from .module import DiffusionModule, load_module
from .progressive import ProgressiveDistillModule
from .run import WaveDataModule, build_data, build_module, resolve_mel
from .run_folder import check_fresh_or_resumed, run_folder_lock
from .trainer import fit, make_trainer


def student_recipe(recipe: Recipe, teacher: DiffusionModule | None) -> Recipe:
    """The recipe stored with the students: ``recipe`` with the teacher's ``model``,
    ``diffusion`` and ``mel`` sections, the consistency noise range resolved, and a
    conditional-only ``sample`` section (guidance 1: it is distilled in)."""
    values = recipe.to_dict()
    if teacher is not None:
        t = teacher.recipe.to_dict()
        values["model"], values["diffusion"], values["mel"] = t["model"], t["diffusion"], t["mel"]
    d = values["distill"]
    if model_kind(d["method"]) == "consistency":
        schedule = schedule_from_config(values["diffusion"]["schedule"])
        d["sigma_min"], d["sigma_max"] = sigma_range(schedule, d["sigma_min"], d["sigma_max"])
        values["sample"].update(steps=d["sample_steps"][0], method="ddim", grid=None)
    values["sample"]["guidance"] = 1.0
    return recipe_from_dict(values)


def _stage_recipe(base: Recipe, steps: int) -> Recipe:
    values = base.to_dict()
    values["sample"].update(steps=steps, method="ddim", grid=PROGRESSIVE_GRID, guidance=1.0)
    return recipe_from_dict(values)


def _teacher_guidance(recipe: Recipe, teacher: DiffusionModule | None) -> float:
    """Guidance of the first stage's teacher target: ``distill.guidance`` or the teacher's
    recipe; 1 when the teacher is itself a (conditional-only) distilled student."""
    if teacher is None or teacher.recipe.model.conditioning != "class":
        return 1.0
    if teacher.recipe.distill.method != "none":
        return 1.0
    g = recipe.distill.guidance
    return float(teacher.recipe.sample.guidance if g is None else g)


def _fit_stage(module: DiffusionModule, recipe: Recipe, data: Any, stage_dir: Path, resume: Path | None,
               progress: bool, extra_callbacks: list[L.Callback] | None, data_seed: int) -> Path:
    """Run one stage with Lightning (the trainer set-up of ``wavediff train``); returns the
    stage's ``checkpoints/last.ckpt``, always written at the final step."""
    trainer, _, _ = make_trainer(recipe, stage_dir, progress, extra_callbacks)
    values = recipe.to_dict()
    values["seed"] = data_seed
    # the frozen teacher (and EMA target) inside the student module are in eval mode on purpose
    fit(trainer, module, WaveDataModule(recipe_from_dict(values), data), resume,
        quiet=(".*module\\(s\\) in eval mode.*",))
    last = stage_dir / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(last, weights_only=False)  # the final step, whatever checkpoint_every was
    return last


def _resume_stage(resume: Path, method: str) -> dict[str, Any]:
    ckpt = load_checkpoint(resume, "--resume checkpoint")  # never executes anything in the file
    if ckpt.get("exported"):
        raise RecipeError(f"--resume {resume} is an exported model (weights only); resume from the run's .ckpt")
    info = ckpt.get("wavediff", {}).get("distilled")
    if not info:
        raise RecipeError(f"{resume} is not a distillation checkpoint (no 'distilled' record)")
    if info["method"] != method:
        raise RecipeError(f"{resume} is a {info['method']} checkpoint but distill.method is {method!r}")
    return info


def distill(recipe: Recipe, teacher_ckpt: str | Path | None, out: str | Path, resume: str | Path | None = None,
            progress: bool = True, extra_callbacks: list[L.Callback] | None = None) -> Path:
    """Distil ``teacher_ckpt`` into a few-step student as ``recipe.distill`` says.

    Args:
        recipe: a distillation recipe (``distill.method`` set; ``trainer.max_steps`` per stage).
        teacher_ckpt: a wavediff checkpoint (``wavediff train`` or an earlier distillation);
            optional for ``consistency_training`` (then the network comes from the recipe).
        out: run folder (layout in the module docstring).
        resume: a checkpoint of this run (any stage, mid-stage or finished); earlier stages
            are taken as done (their ``last.ckpt`` in ``out`` is the next teacher), the stage
            resumes exactly, later stages follow.

    Returns:
        Path of the final student's ``last.ckpt``.
    """
    d = recipe.distill
    if d.method == "none":
        raise RecipeError("distill.method is 'none': set it to progressive, consistency_distillation "
                          "or consistency_training (e.g. distill.method=progressive)")
    out = Path(out)
    resume = Path(resume) if resume is not None else None
    check_fresh_or_resumed(out, resume)
    resume_info = _resume_stage(resume, d.method) if resume is not None else None
    with run_folder_lock(out):
        return _distill_locked(recipe, teacher_ckpt, out, resume, resume_info, progress, extra_callbacks)


def _distill_locked(recipe: Recipe, teacher_ckpt: str | Path | None, out: Path, resume: Path | None,
                    resume_info: dict[str, Any] | None, progress: bool,
                    extra_callbacks: list[L.Callback] | None) -> Path:
    d = recipe.distill
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    teacher: DiffusionModule | None = None
    if teacher_ckpt is not None:
        teacher_ckpt = Path(teacher_ckpt).resolve()
        teacher = load_module(teacher_ckpt)
    elif d.method != "consistency_training":
        raise RecipeError(f"distill.method={d.method} needs a teacher checkpoint (--teacher)")
    base = student_recipe(recipe, teacher)
    if teacher is not None:
        mel = teacher.mel_config
        if teacher.sample_rate != base.data.sample_rate:
            raise RecipeError(f"the teacher works at {teacher.sample_rate} Hz but data.sample_rate is "
                              f"{base.data.sample_rate} Hz; make them equal")
    else:
        mel = resolve_mel(base)
    data = build_data(base, mel)
    if teacher is not None and teacher.labels is not None and data.labels != list(teacher.labels):
        raise RecipeError(f"the corpus labels {data.labels} differ from the teacher's {teacher.labels}")
    if teacher is not None:
        model_config = teacher.net.config.to_dict()
    else:  # the network a ``wavediff train`` run of this recipe would build
        model_config = build_module(base, base.data.sample_rate, mel, data.labels, data.split).net.config.to_dict()
    base.save(out / "recipe.yaml")
    write_text_atomic(out / "split.json", json.dumps(data.split, indent=1))
    common = dict(model_config=model_config, sample_rate=base.data.sample_rate,
                  mel_config=mel.to_dict() if mel else None, labels=data.labels, split=data.split)
    guidance = _teacher_guidance(recipe, teacher)
    summary: dict[str, Any] = {"method": d.method, "teacher": str(teacher_ckpt) if teacher_ckpt else None,
                               "stages": []}
    start = time.perf_counter()
    last: Path | None = None

    if d.method == "progressive":
        rounds = progressive_rounds(d.teacher_steps, d.target_steps)
        if resume_info is not None and resume_info["steps"] not in rounds:
            raise RecipeError(f"{resume} is a {resume_info['steps']}-step student; this run has rounds {rounds}")
        teacher_path: Path = teacher_ckpt
        for stage, k in enumerate(rounds):
            stage_dir = out / f"round_{k}"
            stage_resume = None
            if resume_info is not None:
                if k > resume_info["steps"]:  # finished earlier: its student teaches the next round
                    teacher_path = stage_dir / "checkpoints" / "last.ckpt"
                    if not teacher_path.is_file():
                        raise FileNotFoundError(f"resuming at round {resume_info['steps']} needs {teacher_path}")
                    summary["stages"].append({"steps": k, "checkpoint": str(teacher_path), "metrics": {},
                                              "resumed_past": True})
                    continue
                if k == resume_info["steps"]:
                    stage_resume = resume
            stage_recipe = _stage_recipe(base, k)
            module = ProgressiveDistillModule(stage_recipe.to_dict(), teacher_path=str(teacher_path),
                                              teacher_guidance=guidance if stage == 0 else 1.0, stage=stage,
                                              student_steps=k, **common)
            print(f"progressive distillation: round {stage + 1}/{len(rounds)}, {2 * k} -> {k} steps")
            last = _fit_stage(module, stage_recipe, data, stage_dir, stage_resume, progress, extra_callbacks,
                              data_seed=recipe.seed + stage)
            summary["stages"].append({"steps": k, "checkpoint": str(last), "metrics": module.last_comparison})
            write_text_atomic(out / "distill.json", json.dumps(summary, indent=1))
            teacher_path = last
    else:
        module = ConsistencyModule(base.to_dict(), teacher_path=str(teacher_ckpt) if teacher_ckpt else None,
                                   teacher_guidance=guidance, stage=0, **common)
        last = _fit_stage(module, base, data, out, resume, progress, extra_callbacks, data_seed=recipe.seed)
        summary["stages"].append({"steps": base.sample.steps, "checkpoint": str(last),
                                  "metrics": module.last_comparison})
        write_text_atomic(out / "distill.json", json.dumps(summary, indent=1))
    assert last is not None
    summary["final"] = str(last)
    write_text_atomic(out / "distill.json", json.dumps(summary, indent=1))
    print(f"distillation finished ({d.method}) in {time.perf_counter() - start:.1f} s; student: {last}")
    return last
