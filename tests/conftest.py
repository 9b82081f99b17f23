import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def tmp_run(tmp_path):
    """A fresh run folder path (not created)."""
    return tmp_path / "run"
