"""The lab spine: registries, verdicts from bars, the runner, the report and the CLI contract."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deltalab.cli import main
from deltalab.lab import EXPERIMENTS, Bar, Registry, Result, UnknownNameError, experiment
from deltalab.lab.outdir import OutError
from deltalab.lab.report import render_html
from deltalab.lab.runner import exit_code, run

CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check-result.py"


@pytest.fixture
def toy_experiments():
    """Register three throwaway experiments (pass, honest fail, error) and remove them afterwards."""
    before = set(EXPERIMENTS.names())

    @experiment(id="zz-pass", chapter="L", title="passes <b>bold</b>", claim="x & y < z")
    def _pass(ctx):
        from deltalab.lab.plot import plt

        fig, ax = plt.subplots()
        ax.plot([0, 1])
        ctx.savefig(fig)
        ctx.series("curve", [1.0, 0.5])
        return ctx.result({"m": 2.0, "bad": float("nan")}, [Bar("m", ">=", 1.0)], bar="m >= 1 <script>")

    @experiment(
        id="zz-xfail", chapter="Z", title="fails honestly", claim="c", expected="fail", reason="too small"
    )
    def _xfail(ctx):
        return ctx.result({"m": 0.5}, [Bar("m", ">=", 1.0)], bar="m >= 1")

    @experiment(id="zz-error", chapter="L", title="raises", claim="c")
    def _error(ctx):
        raise RuntimeError("kaboom")

    yield ["zz-pass", "zz-xfail", "zz-error"]
    for k in set(EXPERIMENTS.names()) - before:
        del EXPERIMENTS._entries[k]


def test_registry_duplicate_and_suggestions():
    reg = Registry("widget")
    reg.add("conv-block", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("conv-block", 2)
    with pytest.raises(UnknownNameError, match="Did you mean 'conv-block'"):
        reg.get("conv-blok")
    assert reg.names("conv*") == ["conv-block"]


def test_bar_and_result_verdicts():
    assert Result({"a": 3}, [Bar("a", ">", 2)], bar="").verdict == "pass"
    assert Result({"a": 3, "b": 1}, [Bar("a", ">", 2), Bar("b", "<", 1)], bar="").verdict == "fail"
    r = Result({"a": float("inf")}, [Bar("a", ">", 0)], bar="")
    assert r.metrics["a"] is None and r.nonfinite == ["a"] and r.verdict == "fail"
    with pytest.raises(ValueError, match="at least one Bar"):
        Result({"a": 1}, [], bar="")
    with pytest.raises(ValueError, match="does not report"):
        Result({"a": 1}, [Bar("b", "<", 1)], bar="")
    with pytest.raises(ValueError, match="bar op"):
        Bar("a", "=>", 1)


def test_run_records_verdicts_errors_and_writes_contract(toy_experiments, tmp_path):
    out = tmp_path / "run"
    doc = run(toy_experiments, out=out, verbose=False, jobs=1)
    by = {c["id"]: c for c in doc["claims"]}
    assert by["zz-pass"]["verdict"] == "pass"
    assert by["zz-xfail"]["verdict"] == "fail" and by["zz-xfail"]["expected"] == "fail"
    assert by["zz-error"]["verdict"] == "error" and "kaboom" in by["zz-error"]["message"]
    assert by["zz-pass"]["nonfinite"] == ["bad"] and by["zz-pass"]["metrics"]["bad"] is None
    assert exit_code(doc) == 1  # the error
    assert (out / "zz-pass.png").is_file() and (out / "series.json").is_file()
    json.loads((out / "result.json").read_text())  # strict JSON
    check = subprocess.run([sys.executable, str(CHECKER), str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_expected_failure_is_green_and_unexpected_pass_red(toy_experiments, tmp_path):
    assert exit_code(run(["zz-xfail", "zz-pass"], out=tmp_path / "a", verbose=False, jobs=1)) == 0
    spec = EXPERIMENTS.get("zz-pass")
    EXPERIMENTS._entries["zz-pass"] = type(spec)(**{**spec.__dict__, "expected": "fail", "reason": "r"})
    assert exit_code(run(["zz-pass"], out=tmp_path / "b", verbose=False, jobs=1)) == 1


def test_expected_failure_limited_to_quick(toy_experiments, tmp_path):
    spec = EXPERIMENTS.get("zz-pass")
    quick_only = type(spec)(**{**spec.__dict__, "expected": "fail", "reason": "r", "fails_in": ("quick",)})
    EXPERIMENTS._entries["zz-pass"] = quick_only
    assert quick_only.expected_for("quick") == "fail" and quick_only.expected_for("full") == "pass"
    doc = run(["zz-pass"], out=tmp_path / "full", profile="full", verbose=False, jobs=1)
    assert doc["claims"][0]["expected"] == "pass" and exit_code(doc) == 0
    assert exit_code(run(["zz-pass"], out=tmp_path / "quick", verbose=False, jobs=1)) == 1  # unexpected pass
    with pytest.raises(ValueError, match="fails_in"):
        experiment(id="zz-bad", chapter="L", title="t", claim="c", fails_in=("fast",))


def test_out_replaces_only_a_previous_run(toy_experiments, tmp_path, monkeypatch):
    out = tmp_path / "run"
    run(["zz-pass"], out=out, verbose=False, jobs=1)
    (out / "stale.txt").write_text("left by the old run")
    run(["zz-xfail"], out=out, verbose=False, jobs=1)  # a previous run's folder: replaced whole
    assert not (out / "stale.txt").exists() and (out / "result.json").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    empty = tmp_path / "empty"
    empty.mkdir()
    run(["zz-xfail"], out=empty, verbose=False, jobs=1)
    assert (empty / "result.json").exists()


def test_out_refuses_what_it_did_not_write(toy_experiments, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "thesis.txt").write_text("two years of work")
    (tmp_path / "notes.txt").write_text("notes")
    monkeypatch.chdir(mine)
    for bad, why in [
        (mine, "current folder"),
        (".", "current folder"),
        (tmp_path, "current folder or one of its parents"),
        (tmp_path / "notes.txt", "is a file"),
        (tmp_path / "notes.txt" / "run1", "is a file"),
    ]:
        with pytest.raises(OutError, match=why):
            run(["zz-pass"], out=bad, verbose=False, jobs=1)
    monkeypatch.chdir(tmp_path / "..")
    with pytest.raises(OutError, match="did not write"):
        run(["zz-pass"], out=mine, verbose=False, jobs=1)
    assert main(["run", "zz-pass", "--out", str(mine), "--jobs", "1"]) == 2
    assert "refusing" in capsys.readouterr().err
    assert (mine / "thesis.txt").read_text() == "two years of work"
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mydata", "notes.txt"]


def test_report_escapes_every_string(toy_experiments, tmp_path):
    doc = run(["zz-pass"], out=tmp_path / "r", verbose=False, jobs=1)
    page = render_html(doc)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page and "x &amp; y &lt; z" in page
    assert "http" not in page  # offline: no CDN


def test_cli_list_json_and_unknown_id(capsys):
    assert main(["list", "--json", "--chapter", "L"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert (
        rows and set(rows[0]) == {"id", "chapter", "title", "claim"} and {r["chapter"] for r in rows} == {"L"}
    )
    assert main(["run", "ce-vs-mes"]) == 2
    assert "ce-vs-mse" in capsys.readouterr().err


def test_cli_bad_profile_and_device(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--profile", "fast"])
    assert e.value.code == 2
    assert main(["run", "ce-vs-mse", "--device", "tpu"]) == 2
    assert "device" in capsys.readouterr().err


def test_cli_run_json_stdout_is_one_document(toy_experiments, tmp_path, capsys):
    code = main(["run", "zz-xfail", "--out", str(tmp_path / "r"), "--json", "--jobs", "1"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 0 and doc["claims"][0]["id"] == "zz-xfail"
    assert "zz-xfail" in captured.err  # progress went to stderr


def test_cli_report_rerender_and_compare(toy_experiments, tmp_path, capsys):
    run(["zz-pass"], out=tmp_path / "a", verbose=False, jobs=1)
    run(["zz-pass", "zz-xfail"], out=tmp_path / "b", verbose=False, jobs=1)
    (tmp_path / "a" / "report.html").unlink()
    assert main(["report", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "report.html").exists()
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "zz-xfail" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_cli_train_checkpoint_resume(tmp_path, capsys):
    ck = tmp_path / "m.pt"
    args = [
        "train",
        "--model",
        "softmax",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--checkpoint",
        str(ck),
        "--json",
    ]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["steps"] > 0 and 0 <= first["test_acc"] <= 1
    import torch

    state = torch.load(ck, weights_only=True)
    assert {"model", "optimizer", "step"} <= set(state)
    assert (
        main(
            [
                "train",
                "--model",
                "softmax",
                "--data",
                "digits",
                "--epochs",
                "3",
                "--checkpoint",
                str(ck),
                "--resume",
                "--json",
            ]
        )
        == 0
    )
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["steps"] == first["steps"] * 3 // 2
    assert main(["train", "--model", "mlpp"]) == 2
    assert "Did you mean 'mlp'" in capsys.readouterr().err
    ck.write_bytes(b"garbage")
    assert main(["train", "--model", "softmax", "--checkpoint", str(ck), "--resume"]) == 2


def test_time_pair_medians_and_ratio_quartiles(monkeypatch):
    """time_pair on a fake clock: the candidate costs 2 ticks, the baseline 1 (3 on odd pairs)."""
    import deltalab.analysis.timing as core
    from deltalab.bench.trainer import trainer_epoch_fns

    clock = [0.0]
    calls = []
    monkeypatch.setattr(core.time, "perf_counter", lambda: clock[0])

    def cand():
        calls.append("c")
        clock[0] += 2.0

    def base():
        calls.append("b")
        clock[0] += 1.0 if len(calls) % 4 else 3.0

    t = core.time_pair(cand, base, repeats=4, warmup=1)
    assert t["candidate"] == 2.0 and t["baseline"] == 2.0 and t["repeats"] == 4
    # per-pair ratios 2/3, 2, 2/3, 2: the quartiles are the pairs', not a ratio of medians (1.0)
    assert t["ratio_p25"] == pytest.approx(2 / 3) and t["ratio_p75"] == pytest.approx(2.0)
    assert calls[2:4] == ["c", "b"] and calls[4:6] == ["b", "c"]  # interleaved, order alternating
    fast, slow = trainer_epoch_fns(n=128)  # the trainer-overhead pieces run
    fast(), slow()


def test_median_seconds_warms_up_and_takes_the_median(monkeypatch):
    import deltalab.analysis.timing as timing

    clock, costs = [0.0], iter([100.0, 3.0, 1.0, 2.0])  # the warm-up call (100) is not timed

    def fn():
        clock[0] += next(costs)

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    assert timing.median_seconds(fn, 3) == 2.0
    with pytest.raises(ValueError, match="repeats"):
        timing.median_seconds(fn, 0)


def test_cli_bench_contract(tmp_path, capsys):
    from deltalab.bench.core import BENCHMARKS, BenchResult, benchmark

    @benchmark("zz-bench", goal=2.0, better="lower")
    def _zz() -> BenchResult:
        return BenchResult("zz-bench", 1.0, 2.0, "s", 3)

    try:
        out = tmp_path / "bench.json"
        assert main(["bench", "zz-bench", "--json", "--out", str(out)]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {"name", "candidate", "baseline", "ratio", "unit", "repeats", "goal", "better"} <= set(rows[0])
        assert rows[0]["ratio"] == 0.5 and rows[0]["meets_goal"] is True
        assert json.loads(out.read_text())[0]["name"] == "zz-bench"
        assert main(["bench", "zz-bnch"]) == 2
    finally:
        del BENCHMARKS._entries["zz-bench"]


def test_cli_generate_bad_prompt_lists_vocabulary(capsys):
    assert main(["generate", "a photo of the digit sevn"]) == 2
    err = capsys.readouterr().err
    assert "sevn" in err and "seven" in err


def test_runner_pins_and_restores_threads(tmp_path):
    import torch

    seen = []

    from threadpoolctl import threadpool_info

    blas = []

    @experiment(id="zz-threads", chapter="L", title="t", claim="c")
    def _threads(ctx):
        seen.append(torch.get_num_threads())
        blas.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        torch.set_num_threads(1)  # an experiment may change it; the runner restores it
        return ctx.result({"m": 1}, [Bar("m", ">=", 1)], bar="m >= 1")

    before = torch.get_num_threads()
    try:
        doc = run(["zz-threads"], out=tmp_path / "r", verbose=False, threads=2, jobs=1)
        assert seen == [2, 2, 2] and torch.get_num_threads() == before
        assert doc["provenance"]["threads"] == 2
        run(["zz-threads"], out=tmp_path / "r", verbose=False, jobs=1)
        assert seen[-1] == 1 and blas[-1] <= {1}  # NumPy's/SciPy's BLAS pinned too
    finally:
        del EXPERIMENTS._entries["zz-threads"]
        torch.set_num_threads(before)
