"""Project plumbing: README's set-up commands are what CI runs; the CLI answers --help."""

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    spec = importlib.util.spec_from_file_location("readme_commands", ROOT / ".ci" / "readme_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.setup_commands((ROOT / "README.md").read_text())


def test_readme_has_exactly_install_and_test_commands():
    install, test = _readme_commands()
    assert "pip install torch==2.13.0" in install and '-e ".[dev,eval]"' in install
    assert "pytest" in test
    # the two commands come first in the README, before any other code block
    readme = (ROOT / "README.md").read_text()
    assert readme.index("```bash") > readme.index("<!-- setup -->")
    assert readme.index(install) < readme.index("```", readme.index(install))


def test_setup_installs_into_a_virtual_environment():
    """A system Python that refuses system-wide installs (PEP 668) takes the set-up as written:
    the first command makes and activates .venv before any pip install; every later command,
    each run in its own shell by CI, activates it again."""
    install, test = _readme_commands()
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    assert install.index(". .venv/bin/activate") < install.index("pip install")
    assert test.startswith(". .venv/bin/activate && ")
    readme = (ROOT / "README.md").read_text()
    main_job = readme[readme.index("## The main job"):]
    block = main_job[main_job.index("```bash"):main_job.index("```", main_job.index("```bash") + 7)]
    assert block.index(". .venv/bin/activate") < block.index("wavediff demo")
    assert "/.venv/" in (ROOT / ".gitignore").read_text().split()  # the environment is never committed


def test_no_unused_extras():
    """Every optional dependency group is used (torchaudio, imported by no module, is none)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) == {"dev", "soundfont", "eval"}
    assert not any("torchaudio" in name for names in extras.values() for name in names)
    for path in (ROOT / "src").rglob("*.py"):
        assert "torchaudio" not in set(n.split(".")[0] for n in _imports(path)), path


def test_the_packaged_recipes_are_package_data():
    """A wheel carries every recipe: each file in the recipes package is a module or matches the
    package-data patterns of pyproject.toml."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    folder = ROOT / "src" / "wavediff" / "recipes"
    files = [p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".py"]
    assert files and all(any(fnmatch.fnmatch(name, pat) for pat in patterns["wavediff.recipes"]) for name in files)
    assert not (ROOT / "recipes").exists()  # one copy of the recipes, in the package


def test_ci_runs_the_readme_commands_and_nothing_else():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_commands.py README.md" in ci
    assert "pytest" not in ci and "pip install" not in ci  # never a second copy of the commands


def test_cli_help_and_version():
    out = subprocess.run([sys.executable, "-m", "wavediff.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: wavediff" in out.stdout and "examples:" in out.stdout
    ver = subprocess.run([sys.executable, "-m", "wavediff.cli", "--version"], capture_output=True, text=True, check=True)
    assert ver.stdout.startswith("wavediff ")
    if shutil.which("wavediff"):
        assert subprocess.run(["wavediff", "--help"], capture_output=True, text=True).returncode == 0


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or "")


def test_layering_diffusion_imports_nothing_else():
    """diffusion/ is pure maths: no other wavediff package, no torch.nn modules, no I/O libraries."""
    for path in (ROOT / "src" / "wavediff" / "diffusion").glob("*.py"):
        for name in _imports(path):
            assert not name.startswith(".."), f"{path.name} imports {name}"
            assert not name.startswith("wavediff.") or name.startswith("wavediff.diffusion"), f"{path.name}: {name}"
            assert name.split(".")[0] not in {"soundfile", "librosa", "lightning", "tqdm", "yaml", "matplotlib"}, name
        classes = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)]
        for cls in classes:
            assert not any("Module" in ast.unparse(base) for base in cls.bases), f"{path.name}: {cls.name}"


def test_layering_nn_does_not_import_train():
    for path in (ROOT / "src" / "wavediff" / "nn").glob("*.py"):
        for name in _imports(path):
            assert "train" not in name.split("."), f"{path.name} imports {name}"


@pytest.mark.parametrize("command", [["data", "--help"], ["data", "demo", "--help"], ["data", "soundfont-notes", "--help"],
                                     ["data", "espeak-speech", "--help"], ["train", "--help"],
                                     ["distill", "--help"], ["vocode", "--help"], ["tune-schedule", "--help"],
                                     ["sample", "--help"], ["evaluate", "--help"], ["gallery", "--help"],
                                     ["analyze-noise", "--help"], ["demo", "--help"], ["export", "--help"], ["recipes", "--help"],
                                     ["import", "diffwave", "--help"]])
def test_every_command_has_help_with_examples(command):
    out = subprocess.run([sys.executable, "-m", "wavediff.cli", *command], capture_output=True, text=True, check=True)
    assert "examples:" in out.stdout


def test_evaluate_metrics_help_names_every_copy_synthesis_metric():
    """``wavediff evaluate --metrics`` spells the metric names out (the parser does not import
    torch); they are the registry's: the default set, then every speech metric."""
    import re

    from wavediff.audio.metrics import COPY_SYNTHESIS_METRICS, DEFAULT_METRICS
    from wavediff.cli import build_parser

    evaluate = build_parser()._subparsers._group_actions[0].choices["evaluate"]
    text = next(a for a in evaluate._actions if a.dest == "metrics").help
    default = re.search(r"default ([a-z0-9_,]+)", text).group(1).split(",")
    others = re.search(r"eval extra: ([a-z0-9_,]+)", text).group(1).split(",")
    assert tuple(default) == DEFAULT_METRICS
    assert tuple(default + others) == COPY_SYNTHESIS_METRICS
