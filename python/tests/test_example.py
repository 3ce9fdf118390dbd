# SPDX-License-Identifier: MIT
"""examples/python/train_fashion_mnist.py runs end to end (one short epoch)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "python", "train_fashion_mnist.py")
DATA = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isfile(os.path.join(DATA, "train-images-idx3-ubyte.gz")),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_example_runs():
    result = subprocess.run([sys.executable, SCRIPT, "--epochs", "1", "--train-per-class", "200"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("before training:") and lines[1].startswith("epoch 1: mean loss")
