"""A stopped `deltalab run` leaves no worker computing and no staging folder behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")


def _start(out: Path) -> subprocess.Popen[bytes]:
    cli = "import sys; from deltalab.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", cli, "run", "dropout", "--seeds", "6", "--jobs", "2", "--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_staging(out: Path, proc: subprocess.Popen[bytes]) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(out.parent.glob(f".{out.name}.staging-*"))
        if found and (found[0] / "result.json").exists() is False and proc.poll() is None:
            time.sleep(3)  # let the workers start an experiment
            return found[0]
        time.sleep(0.2)
    raise AssertionError("the run never started")


def _live_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (an orphan's exit is reaped by init, which a
    container's init may never do: a zombie is not a running worker)."""
    if not Path("/proc").is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)"
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            live.append(int(stat.parent.name))
    return live


def _group_gone(pgid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _live_in_group(pgid):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill-9"])
def test_stopped_run_leaves_no_worker_and_no_staging(tmp_path, sig):
    out = tmp_path / "run"
    proc = _start(out)
    try:
        staging = _wait_for_staging(out, proc)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        # every process of the run's group (the workers too) is gone soon after
        assert _group_gone(proc.pid, within=20), "a worker kept running after its run was stopped"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not out.exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and not staging.exists()
    else:  # nothing could clean up; the next run into the same folder removes the dead run's staging
        assert staging.exists()
        from deltalab.lab.processes import remove_stale_staging

        remove_stale_staging(out)
        assert not staging.exists()
