"""Every registered experiment at seeds 0, 1 and 2: one shared multi-seed run of the quick suite.

The run is the one ``deltalab run`` makes by default (quick, seeds 0–2, one process per core); each
claim's test reads its record: every seed ran, and the claim's verdict over the seeds equals its
expectation (``unstable`` never does). ``check-result.py`` checks the whole run folder.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deltalab.lab import EXPERIMENTS
from deltalab.lab.runner import run

CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check-result.py"
SEEDS = [0, 1, 2]


@pytest.fixture(scope="session")
def suite(request, tmp_path_factory):
    """The claims this session selected (all, or those ``-k`` picked), each at every seed of SEEDS."""
    ids = [
        i.callspec.params["exp_id"]
        for i in request.session.items
        if i.path.name == "test_experiments.py"
        and "exp_id" in getattr(i, "callspec", type("", (), {"params": {}})).params
    ]
    out = tmp_path_factory.mktemp("suite") / "run"
    doc = run(
        ids or None, profile="quick", seed=SEEDS[0], seeds=len(SEEDS), out=out, jobs=os.cpu_count() or 1
    )
    return out, {c["id"]: c for c in doc["claims"]}


@pytest.mark.slow
@pytest.mark.parametrize("exp_id", EXPERIMENTS.names())
def test_quick_profile_verdict_at_every_seed(exp_id, suite):
    out, claims = suite
    c = claims[exp_id]
    assert [r["seed"] for r in c["runs"]] == SEEDS
    assert c["verdict"] != "error", c["message"]
    want = EXPERIMENTS.get(exp_id).expected_for("quick")
    per_seed = {
        r["seed"]: (r["verdict"], {b["metric"]: r["metrics"].get(b["metric"]) for b in c["bar_spec"]})
        for r in c["runs"]
    }
    assert c["verdict"] == want, (
        f"{exp_id}: {c['verdict']}, expected {want}; per seed {per_seed} vs bars {c['bar_spec']}"
    )
    for fig in c["figures"]:
        assert (out / fig).is_file(), fig
    json.dumps(c["metrics"], allow_nan=False)


@pytest.mark.slow
def test_suite_follows_the_contract(suite):
    out, _ = suite
    # seconds are the budget's business (README, the run's report), not a unit test's: bound them only
    # by the runner's own per-seed limit here, so a loaded CI machine cannot fail the contract check
    cmd = [sys.executable, str(CHECKER), str(out), "--max-seconds", "300"]
    check = subprocess.run(cmd, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
