"""launch/: 2 processes x 4 devices == 1 process x 8; fork.sh; sweep.py (resumable)."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, assert_trees_equal, load_checkpoint

REPO_PATH = pathlib.Path(REPO)

STEPS = ["--config.total=10", "--config.eval_every=0", "--config.checkpoint_every=5"]


def _launch(n, d, workdir):
    cmd = ["bash", "launch/multiprocess_cpu.sh", str(n), str(d), "--", sys.executable, "-m", "projects.lamb.main",
           "--config=configs/lamb/default.py", f"--workdir={workdir}", *STEPS]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)  # the launcher sets the devices
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return json.load(open(os.path.join(workdir, "final_metrics.json")))


@pytest.mark.slow
def test_two_processes_of_four_devices_equal_one_of_eight(tmp_path):
    multi = _launch(2, 4, tmp_path / "mp")
    single = _launch(1, 8, tmp_path / "sp")
    assert multi["processes"] == 2 and single["processes"] == 1
    assert multi["devices"] == single["devices"] == 8
    for key in ("train_loss", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(multi[key], single[key], rtol=1e-5)
    a, b = load_checkpoint(tmp_path / "mp", 10), load_checkpoint(tmp_path / "sp", 10)
    for x, y in zip(*(map(np.asarray, __import__("jax").tree.leaves(t["params"])) for t in (a, b))):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)

    # resumed from step 5 on the same 2 x 4 layout: bit-exact; on 1 process x 8 (elastic 2 -> 1
    # processes): the same up to float reduction order
    from tests.test_resume_mesh import _truncate

    shutil.copytree(tmp_path / "mp", tmp_path / "el")
    for w in ("mp", "el"):
        _truncate(tmp_path / w, 5)
    assert _launch(2, 4, tmp_path / "mp")["resumed_from"] == 5
    assert_trees_equal(load_checkpoint(tmp_path / "mp", 10), a)
    elastic = _launch(1, 8, tmp_path / "el")
    assert elastic["resumed_from"] == 5 and elastic["processes"] == 1
    np.testing.assert_allclose(elastic["test_loss"], multi["test_loss"], rtol=1e-5)


# every form of a reference to the old project that a fork must rewrite
OLD_REFS = ("projects.{0}", "configs.{0}", "projects/{0}", "configs/{0}", 'project="{0}"', "project = \"{0}\"",
            "--project {0}", "test_{0}.py")

LOAD_CONFIGS = """
import glob, importlib, json, os, sys
out = {}
for path in sorted(glob.glob(f"configs/{sys.argv[1]}/*.py")):
    name = os.path.basename(path)[:-3]
    if name != "__init__":
        out[name] = importlib.import_module(f"configs.{sys.argv[1]}.{name}").get_config().project
print(json.dumps(out))
"""


def _fork(tmp_path, old, new):
    root = tmp_path / "repo"
    for d in ("lib", "launch", f"projects/{old}", f"configs/{old}", "tests/projects"):
        shutil.copytree(os.path.join(REPO, d), root / d, ignore=shutil.ignore_patterns("__pycache__", "results"))
    for f in ("projects/__init__.py", "configs/__init__.py", "tests/__init__.py", "tests/projects/__init__.py",
              "tests/helpers.py", "tests/conftest.py"):
        shutil.copy(os.path.join(REPO, f), root / f)
    p = subprocess.run(["bash", "launch/fork.sh", old, new], cwd=root, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return root


@pytest.mark.parametrize("old,steps", [("fedau", ["--config.total=2", "--config.eval_every=0"]),
                                       ("hetumoe", ["--config.total=2", "--config.warmup=1",
                                                    "--config.eval_every=0", "--config.checkpoint_every=2"])])
def test_fork_rewrites_every_reference_and_runs(tmp_path, old, steps):
    """A fork keeps no reference to the original project in any copied module, config, test or README;
    every forked config loads with config.project = the fork; the fork's default runs."""
    new = f"my_{old}"
    root = _fork(tmp_path, old, new)
    copied = [root / f"tests/projects/test_{new}.py"] + [
        f for d in (f"projects/{new}", f"configs/{new}") for f in (root / d).rglob("*") if f.suffix in (".py", ".md")]
    assert len(copied) > 3
    for path in copied:
        text = path.read_text()
        for ref in OLD_REFS:
            ref = ref.format(old)
            assert not re.search(re.escape(ref) + r"(?![A-Za-z0-9_])", text), f"{path}: {ref!r} left"
    loaded = subprocess.run([sys.executable, "-c", LOAD_CONFIGS, new], cwd=root, capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    projects = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert len(projects) == len(list((REPO_PATH / "configs" / old).glob("[!_]*.py"))) >= 2
    assert set(projects.values()) == {new}, projects
    run = subprocess.run([sys.executable, "-m", f"projects.{new}.main", f"--config=configs/{new}/default.py",
                          f"--workdir={tmp_path / 'w'}", *steps], cwd=root, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.load(open(tmp_path / "w" / "config.json"))["project"] == new
    assert json.load(open(tmp_path / "w" / "final_metrics.json"))["step"] == 2


def test_fork_refuses_an_existing_name(tmp_path):
    root = _fork(tmp_path, "lamb", "my_lamb")
    assert (root / "projects/my_lamb/train.py").exists() and (root / "tests/projects/test_my_lamb.py").exists()
    again = subprocess.run(["bash", "launch/fork.sh", "lamb", "my_lamb"], cwd=root, capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_sweep_runs_grid_writes_results_and_skips_finished(tmp_path):
    cmd = [sys.executable, "launch/sweep.py", "--project", "lamb", "--config", "configs/lamb/default.py",
           "--workdir", str(tmp_path / "runs"), "--grid", "optimizer=lamb,sgd", "--set", "total=4",
           "--set", "eval_every=2", "--results", str(tmp_path / "results")]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    files = sorted(os.listdir(tmp_path / "results"))
    assert files == ["optimizer-lamb.json", "optimizer-sgd.json"]
    r = json.load(open(tmp_path / "results" / "optimizer-sgd.json"))
    assert r["overrides"] == {"optimizer": "sgd"} and r["config"]["optimizer"] == "sgd"
    assert r["final"]["step"] == 4 and [c["step"] for c in r["curve"]] == [2, 4]
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.stdout.count("skip") == 2 and "0 ran" in again.stdout
