"""Bad input never ends in a traceback or lost work: one line on stderr naming what was expected."""

import json
import os

import pytest

from deltalab.cli import main


def _one_line_error(capsys, code, want_code=2):
    err = capsys.readouterr().err.strip()
    assert code == want_code, err
    last = err.splitlines()[-1]
    assert "Traceback" not in err and "error" in last
    return last


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--lr", "inf"], "finite"),
        (["train", "--lr", "nan"], "finite"),
        (["train", "--epochs", "0"], ">= 1"),
        (["train", "--seed", str(2**70)], "0..4294967295"),
        (
            ["train", "--optimizer", "rprop", "--weight-decay", "0.1", "--epochs", "1"],
            "rprop has no weight decay",
        ),
        (["train", "--optimizer", "adamm"], "adam"),
        (["train", "--data", "digitz"], "digits"),
        (["train", "--resume"], "--resume needs --checkpoint"),
        (["generate", "seven", "--guidance", "nan"], "finite"),
        (["generate", "seven", "--guidance", "-1"], ">= 0"),
        (["generate", "seven", "--n", "100000"], "1..1024"),
        (["generate", "seven", "--out", "grid.txt"], ".png"),
        (["run", "ce-vs-mse", "--seed", "-3"], "0..4294967295"),
        (["run", "ce-vs-mse", "--timeout", "inf"], "finite"),
        (["bench", "muon-step", "--out", "results.txt"], ".json"),
        (["report", "nowhere"], "no result.json"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: exit 2 with a usage line and one error line
        code = e.code
    last = _one_line_error(capsys, code)
    assert needle in last
    assert sorted(os.listdir(tmp_path)) == []  # nothing written


def test_paths_are_checked_before_work(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    for argv in (
        ["train", "--checkpoint", "folder"],
        ["train", "--checkpoint", "notes.txt/m.pt"],
        ["train", "--checkpoint", "notes.txt"],  # exists: not ours to replace without --overwrite/--resume
        ["bench", "muon-step", "--out", "folder"],
        ["generate", "seven", "--out", "folder"],
    ):
        last = _one_line_error(capsys, main(argv))
        assert "folder" in last or "notes.txt" in last, last
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["folder", "notes.txt"]


def test_resume_of_other_settings_and_missing_file(capsys, tmp_path):
    ck = str(tmp_path / "m.pt")
    base = ["train", "--model", "softmax", "--epochs", "1", "--checkpoint", ck, "--json"]
    assert "no checkpoint at" in _one_line_error(capsys, main([*base, "--resume"]))
    assert main(base) == 0
    capsys.readouterr()
    assert "optimizer='adamw'" in _one_line_error(capsys, main([*base, "--resume", "--optimizer", "sgd"]))
    assert "lr=0.001" in _one_line_error(capsys, main([*base, "--resume", "--lr", "0.01"]))
    assert "exists" in _one_line_error(capsys, main(base))  # would silently replace the checkpoint
    assert main([*base, "--overwrite"]) == 0


def test_version_and_registry_listings(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("deltalab ")
    for flag, member in (
        ("--models", "mlp"),
        ("--data", "mnist1d"),
        ("--optimizers", "muon"),
        ("--benchmarks", "muon-step"),
    ):
        assert main(["list", flag, "--json"]) == 0
        assert member in json.loads(capsys.readouterr().out)


def test_api_rejects_bad_values():
    from deltalab.models import create_model
    from deltalab.optim import create_optimizer
    from deltalab.train.api import train

    with pytest.raises(ValueError, match="momentum must lie in"):
        create_optimizer("sgd", [__import__("torch").zeros(1, requires_grad=True)], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("mlp", (64,), 0)
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        train("mlp", "digits", epochz=3)
