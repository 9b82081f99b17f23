"""Seeds decide verdicts: the aggregation of seed-runs, the schema-2 run folder, its report and checker."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deltalab.cli import main
from deltalab.lab import EXPERIMENTS, Bar, experiment
from deltalab.lab.aggregate import aggregate, mean_and_spread, seed_verdicts, verdict_label
from deltalab.lab.report import compare, load_result, render_html
from deltalab.lab.runner import exit_code, run

CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check-result.py"


def _run(seed, verdict, **metrics):
    return {
        "seed": seed,
        "id": "c",
        "chapter": "L",
        "title": "t",
        "claim": "c",
        "expected": "pass",
        "reason": "",
        "verdict": verdict,
        "metrics": metrics,
        "nonfinite": [],
        "bar": "m >= 1",
        "bar_spec": [{"metric": "m", "op": ">=", "value": 1.0}] if verdict != "error" else [],
        "config": {"k": 1},
        "figures": ["c.png"],
        "message": "" if verdict != "error" else "RuntimeError: boom",
        "seconds": 1.5,
    }


def test_seed_verdicts_all_mixed_and_error():
    assert seed_verdicts([_run(0, "pass", m=2), _run(1, "pass", m=3)]) == "pass"
    assert seed_verdicts([_run(0, "fail", m=0), _run(1, "fail", m=0)]) == "fail"
    assert seed_verdicts([_run(0, "pass", m=2), _run(1, "fail", m=0)]) == "unstable"
    assert seed_verdicts([_run(0, "pass", m=2), _run(1, "error"), _run(2, "fail", m=0)]) == "error"
    with pytest.raises(ValueError, match="at least one"):
        seed_verdicts([])
    with pytest.raises(ValueError, match="unstable"):
        seed_verdicts([{"verdict": "unstable"}])


def test_mean_spread_and_missing_metrics():
    means, spread = mean_and_spread(
        [_run(0, "pass", m=1.0, n=4.0), _run(1, "pass", m=2.0, n=None), _run(2, "pass", m=6.0)]
    )
    assert means["m"] == pytest.approx(3.0)
    assert spread["m"] == {"min": 1.0, "max": 6.0, "std": pytest.approx(2.6457513, rel=1e-6)}  # sample std
    assert means["n"] is None and "n" not in spread  # a seed without it: no mean that hides that
    one, s1 = mean_and_spread([_run(0, "pass", m=5)])
    assert one == {"m": 5.0} and s1["m"]["std"] == 0.0


def test_aggregate_record_unstable_and_error():
    rec = aggregate([_run(2, "fail", m=0.5), _run(0, "pass", m=2.0), _run(1, "pass", m=1.5)])
    assert [r["seed"] for r in rec["runs"]] == [0, 1, 2]
    assert rec["verdict"] == "unstable" and rec["metrics"]["m"] == pytest.approx(4 / 3)
    assert rec["message"].startswith("seeds disagree: pass at 0, 1; fail at 2")
    assert rec["seconds"] == 4.5 and rec["bar_spec"][0]["metric"] == "m"
    assert verdict_label(rec) == "unstable (pass at 0, 1; fail at 2)"
    assert rec["runs"][1]["figures"] == ["c.png"] and "figures" not in rec["runs"][0]
    err = aggregate([_run(0, "pass", m=2.0), _run(1, "error")])
    assert err["verdict"] == "error" and err["metrics"] == {"m": None}
    assert "seed 1: RuntimeError: boom" in err["message"] and err["bar_spec"]


@pytest.fixture
def seed_toys():
    """A claim that passes at every seed and one whose verdict depends on the seed's parity."""
    before = set(EXPERIMENTS.names())

    @experiment(id="zz-steady", chapter="O", title="steady", claim="c")
    def _steady(ctx):
        return ctx.result({"m": 2.0 + ctx.seed}, [Bar("m", ">=", 1.0)], bar="m >= 1")

    @experiment(id="zz-flaky", chapter="O", title="flaky", claim="c")
    def _flaky(ctx):
        from deltalab.lab.plot import plt

        fig, ax = plt.subplots()
        ax.plot([0, ctx.seed])
        ctx.savefig(fig)
        return ctx.result({"m": float(ctx.seed % 2)}, [Bar("m", ">=", 1.0)], bar="m >= 1")

    yield
    for k in set(EXPERIMENTS.names()) - before:
        del EXPERIMENTS._entries[k]


def test_multi_seed_run_folder_report_and_checker(seed_toys, tmp_path):
    out = tmp_path / "r"
    doc = run(["zz-steady", "zz-flaky"], out=out, seed=4, seeds=3, verbose=False, jobs=1)
    assert doc["schema"] == 2 and doc["seeds"] == [4, 5, 6] and doc["seed"] == 4
    steady, flaky = doc["claims"]
    assert steady["verdict"] == "pass" and steady["metrics"]["m"] == pytest.approx(7.0)
    assert [r["seed"] for r in steady["runs"]] == [4, 5, 6]
    assert flaky["verdict"] == "unstable" and exit_code(doc) == 1  # unstable never equals an expectation
    assert (out / "zz-flaky.png").is_file() and (out / "seed-5" / "zz-flaky.png").is_file()
    check = subprocess.run([sys.executable, str(CHECKER), str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    page = (out / "report.html").read_text()
    assert "unstable (pass at 5; fail at 4, 6)" in page and "1 unstable" in page
    assert "s5: 1" in page and "seed-5/zz-flaky.png" in page
    assert exit_code(run(["zz-steady"], out=tmp_path / "s", seeds=2, verbose=False, jobs=1)) == 0


def test_cli_seeds_summary_and_exit(seed_toys, tmp_path, capsys):
    code = main(
        [
            "run",
            "zz-flaky",
            "zz-steady",
            "--seeds",
            "2",
            "--seed",
            "1",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    cap = capsys.readouterr()
    assert code == 1
    assert (
        "unstable (pass at 1; fail at 2)" in cap.out and "1 of 2 claims as expected at seeds 1..2" in cap.out
    )
    assert "[4/4]" in cap.err and "zz-flaky seed 2: fail" in cap.err
    for bad in (["--seed", "-1"], ["--seed", str(2**70)], ["--seeds", "0"], ["--seed", "abc"]):
        with pytest.raises(SystemExit) as e:
            main(["run", "zz-steady", *bad])
        assert e.value.code == 2


def test_run_api_validates_before_work(seed_toys, tmp_path):
    doc = run("zz-steady", out=tmp_path / "one", seeds=1, verbose=False, jobs=1)  # a string is one id
    assert [c["id"] for c in doc["claims"]] == ["zz-steady"] and doc["seeds"] == [0]
    for kw, msg in [
        ({"seed": "abc"}, "seed must be a whole number"),
        ({"seed": True}, "seed must be a whole number"),
        ({"seed": 2**32 - 1, "seeds": 2}, "must lie in"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"jobs": 0}, "jobs"),
        ({"threads": 0}, "threads"),
        ({"timeout": float("nan")}, "timeout"),
    ]:
        with pytest.raises(ValueError, match=msg):
            run("zz-steady", out=tmp_path / "x", verbose=False, **kw)
    assert not (tmp_path / "x").exists()


def test_run_files_follow_the_umask(seed_toys, tmp_path):
    old = os.umask(0o022)
    try:
        run("zz-flaky", out=tmp_path / "r", seeds=1, verbose=False, jobs=1)
    finally:
        os.umask(old)
    for name in ("result.json", "report.html", "zz-flaky.png"):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o644, name


def test_report_reads_schema_1_and_compares_with_schema_2(seed_toys, tmp_path, capsys):
    run(["zz-steady", "zz-flaky"], out=tmp_path / "b", seeds=3, verbose=False, jobs=1)
    old = {
        "schema": 1,
        "profile": "quick",
        "seed": 0,
        "device": "cpu",
        "started": "x",
        "seconds": 1,
        "claims": [
            {
                "id": "zz-steady",
                "chapter": "O",
                "title": "t",
                "verdict": "pass",
                "expected": "pass",
                "metrics": {"m": 2.0},
                "bar_spec": [{"metric": "m", "op": ">=", "value": 1.0}],
                "seconds": 1,
            }
        ],
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "result.json").write_text(json.dumps(old))
    assert "steady" in render_html(load_result(tmp_path / "a" / "result.json"))  # a file path works too
    text = compare(tmp_path / "a", tmp_path / "b")
    assert "zz-steady" in text and "pass (p p p)" in text and "unstable (f p f)" in text


@pytest.mark.parametrize(
    "content, msg",
    [
        ("[1, 2]", "expected a JSON object"),
        ('"a string"', "expected a JSON object"),
        ('{"claims": 3}', "list under 'claims'"),
        ('{"claims": [{"id": "x"}]}', "lacks chapter, verdict"),
        ('{"claims": ["x"]}', "is a str"),
        ("{not json", "not valid JSON"),
    ],
)
def test_report_rejects_what_is_not_a_result(tmp_path, capsys, content, msg):
    (tmp_path / "result.json").write_text(content)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_group_members_share_one_process_and_cached_leaves_rng_alone(tmp_path):
    """Claims of a group run in one process per seed; ctx.cached restores the RNG it built under."""
    import torch

    from deltalab.lab.runner import _bundles, select

    before = set(EXPERIMENTS.names())

    @experiment(id="zz-a", chapter="G", title="a", claim="c", group="zz")
    def _a(ctx):
        ctx.cached(("zz-part",), lambda: torch.randn(1000))
        return ctx.result({"m": float(torch.rand(1))}, [Bar("m", ">=", 0.0)], bar="m >= 0")

    @experiment(id="zz-mid", chapter="G", title="mid", claim="c")
    def _mid(ctx):
        return ctx.result({"m": 1.0}, [Bar("m", ">=", 0.0)], bar="m >= 0")

    @experiment(id="zz-b", chapter="G", title="b", claim="c", group="zz")
    def _b(ctx):
        ctx.cached(("zz-part",), lambda: torch.randn(1000))
        return ctx.result({"m": float(torch.rand(1))}, [Bar("m", ">=", 0.0)], bar="m >= 0")

    try:
        assert _bundles(select(["zz-a", "zz-mid", "zz-b"])) == [["zz-a", "zz-b"], ["zz-mid"]]
        doc = run(["zz-a", "zz-b"], out=tmp_path / "r", seeds=1, verbose=False, jobs=1)
        a, b = (c["metrics"]["m"] for c in doc["claims"])
        assert a == b  # b reused the part and still drew what a drew after building it
    finally:
        for k in set(EXPERIMENTS.names()) - before:
            del EXPERIMENTS._entries[k]
