"""The README's tour stays true: every command parses, the cheap ones run, the Python snippet runs."""

import re
import shlex
from pathlib import Path

import pytest

from deltalab.cli import build_parser, main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
TOUR = [line.split("#")[0].strip() for line in README.splitlines() if line.startswith("deltalab ")]
HEAVY = (
    "--chapter",
    "--jobs",
    "bench",
    "report runs/a",
    "generate",
)  # minutes of work or need other runs; parsed only


def test_tour_is_not_empty():
    assert len(TOUR) >= 8


@pytest.mark.parametrize("line", TOUR)
def test_tour_command_parses(line):
    build_parser().parse_args(shlex.split(line)[1:])


@pytest.mark.slow
def test_tour_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for line in TOUR:
        if any(h in line for h in HEAVY):
            continue
        argv = shlex.split(line)[1:]
        if argv[:2] == ["report", "runs/mine"]:
            assert main(["run", "normal-equations", "--out", "runs/mine"]) == 0
        assert main(argv) == 0, line
    assert (tmp_path / "mlp.pt").is_file()


@pytest.mark.slow
def test_python_snippet_runs():
    block = re.search(r"```python\n(import deltalab.*?)```", README, re.S).group(1)
    block = block.replace('["ce-vs-mse", "delta-rule"]', '["normal-equations"]')
    ns: dict = {}
    exec(compile(block, "README", "exec"), ns)
    claim = ns["doc"]["claims"][0]
    assert claim["id"] == "normal-equations" and claim["verdict"] == "pass"
    assert [r["seed"] for r in claim["runs"]] == [0, 1, 2]
    assert ns["trainer"].history and ns["trainer"].history[-1]["val_acc"] > 0.9
