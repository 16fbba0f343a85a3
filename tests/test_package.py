"""vfi_ops.models is the repository's models/ folder, installed or imported from the checkout."""

import os
import subprocess
import sys

import vfi_ops.models
from vfi_ops.models import DAIN, UGSP

import vfi_ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, cwd):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
    )


def test_models_package_is_the_models_folder():
    # In a checkout the package is models/ itself; installed, a copy of it inside vfi_ops.
    folder = os.path.dirname(vfi_ops.models.__file__)
    assert folder in (os.path.join(ROOT, "models"), os.path.join(os.path.dirname(vfi_ops.__file__), "models"))
    assert DAIN.__module__ == "vfi_ops.models.dain" and UGSP.__module__ == "vfi_ops.models.ugsp"


def test_inference_tools_do_not_import_training(tmp_path):
    done = run_python(
        "import sys, vfi_ops.models.interpolate, vfi_ops.models.evaluate; "
        "print(sorted(m for m in sys.modules if m.startswith('vfi_ops.models')))",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "vfi_ops.models.interpolate" in done.stdout and "vfi_ops.models.train" not in done.stdout


def test_tools_run_as_modules(tmp_path):
    for tool in ("train", "interpolate", "evaluate"):
        done = subprocess.run(
            [sys.executable, "-m", f"vfi_ops.models.{tool}", "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: vfi-{tool}")
