"""Every registered experiment: its quick profile runs and its measured verdict equals its expectation."""

import json

import pytest

from deltalab.lab import EXPERIMENTS
from deltalab.lab.runner import run_one


@pytest.mark.slow
@pytest.mark.parametrize("exp_id", EXPERIMENTS.names())
def test_quick_profile_verdict(exp_id, tmp_path):
    rec = run_one(exp_id, "quick", 0, "cpu", str(tmp_path), timeout=300, verbose=False)
    assert rec["verdict"] != "error", rec["message"]
    want = EXPERIMENTS.get(exp_id).expected_for("quick")
    assert rec["verdict"] == want, (
        f"{exp_id}: measured {rec['verdict']}, expected {want}; metrics {rec['metrics']} "
        f"vs bars {rec['bar_spec']}"
    )
    for fig in rec["figures"]:
        assert (tmp_path / fig).is_file(), fig
    json.dumps(rec["metrics"], allow_nan=False)
