"""Write a run folder: ``result.json`` (strict JSON), ``series.json``, ``report.html``.

The page is self-contained (no CDN, figures as relative PNG links) and every string it embeds is
HTML-escaped. ``render(dir)`` re-renders from ``result.json``; ``compare(a, b)`` puts two runs side
by side.
"""

from __future__ import annotations

import html
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from deltalab.lab.experiment import CHAPTERS


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename: never half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git() -> tuple[str | None, bool | None]:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def provenance(argv: list[str]) -> dict[str, Any]:
    import numpy
    import torch

    import deltalab

    commit, dirty = _git()
    return {
        "git": commit,
        "dirty": dirty,
        "deltalab": deltalab.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "threads": torch.get_num_threads(),
        "cpu": f"{_cpu_name()} ({os.cpu_count()} cores)",
        "platform": platform.platform(),
        "argv": list(argv),
    }


def write_run(folder: Path, doc: dict[str, Any]) -> None:
    """Write ``result.json``, ``series.json`` and ``report.html`` into ``folder``."""
    folder = Path(folder)
    series = {c["id"]: c.pop("series") for c in doc["claims"] if c.get("series")}
    for c in doc["claims"]:
        c.pop("series", None)
    atomic_write_text(folder / "result.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    if series:
        atomic_write_text(folder / "series.json", json.dumps(series, allow_nan=False) + "\n")
    atomic_write_text(folder / "report.html", render_html(doc))


def load_result(folder: str | Path) -> dict[str, Any]:
    path = Path(folder)
    path = path / "result.json" if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"no result.json in {folder}: pass a folder written by `deltalab run`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); re-run `deltalab run` to regenerate it") from e


def render(folder: str | Path) -> Path:
    """Re-render ``report.html`` from ``folder/result.json``."""
    folder = Path(folder)
    doc = load_result(folder)
    out = folder / "report.html"
    atomic_write_text(out, render_html(doc))
    return out


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.pass{color:#176f2c;font-weight:600}
.fail{color:#b3261e;font-weight:600}.error{color:#8a4b00;font-weight:600}.xfail{color:#555;font-weight:600}
code{font-size:12px}.claim{margin:2em 0;border-top:2px solid #eee;padding-top:1em}
img{max-width:100%;border:1px solid #eee;margin:4px 0}.small{color:#666;font-size:12px}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _status(c: dict[str, Any]) -> tuple[str, str]:
    v, e = c["verdict"], c.get("expected", "pass")
    if v == "fail" and e == "fail":
        return "xfail", "expected fail"
    if v == "pass" and e == "fail":
        return "fail", "unexpected pass"
    return v, v


def render_html(doc: dict[str, Any]) -> str:
    esc = html.escape
    claims = doc.get("claims", [])
    prov = doc.get("provenance", {})
    counts = {k: sum(_status(c)[0] == k for c in claims) for k in ("pass", "xfail", "fail", "error")}
    rows, sections = [], []
    for c in claims:
        cls, label = _status(c)
        metrics = c.get("metrics", {})
        spec = c.get("bar_spec", [])
        barcells = "<br>".join(
            f"<code>{esc(b['metric'])} = {esc(_fmt(metrics.get(b['metric'])))} {esc(b['op'])} {esc(_fmt(b['value']))}</code>"
            for b in spec
        )
        rows.append(
            f"<tr><td><a href='#{esc(c['id'])}'>{esc(c['id'])}</a></td><td>{esc(c['chapter'])}</td>"
            f"<td>{esc(c.get('title', ''))}</td><td class='{cls}'>{esc(label)}</td><td>{barcells}</td>"
            f"<td>{esc(_fmt(c.get('seconds')))}</td></tr>"
        )
        mtable = "".join(
            f"<tr><td><code>{esc(k)}</code></td><td>{esc(_fmt(v))}</td></tr>" for k, v in metrics.items()
        )
        figs = "".join(f"<img src='{esc(f)}' alt='{esc(f)}'>" for f in c.get("figures", []))
        reason = f"<p><b>Expected to fail:</b> {esc(c['reason'])}</p>" if c.get("reason") else ""
        msg = f"<pre>{esc(c['message'])}</pre>" if c.get("message") else ""
        cfg = esc(json.dumps(c.get("config", {}), sort_keys=True))
        sections.append(
            f"<div class='claim' id='{esc(c['id'])}'><h2>{esc(c['id'])} <span class='{cls}'>{esc(label)}</span></h2>"
            f"<p>{esc(c.get('claim', ''))}</p><p><b>Bar:</b> {esc(c.get('bar', ''))}</p>{reason}"
            f"<table>{mtable}</table>{figs}{msg}<p class='small'>config: <code>{cfg}</code></p></div>"
        )
    chapters = sorted({c["chapter"] for c in claims}, key=list(CHAPTERS).index)
    provline = ", ".join(f"{esc(k)}: {esc(str(v))}" for k, v in prov.items() if k != "argv")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>deltalab report</title><style>{_CSS}</style></head><body>
<h1>deltalab report</h1>
<p>profile <b>{esc(str(doc.get("profile")))}</b>, seed {esc(str(doc.get("seed")))}, device {esc(str(doc.get("device")))},
started {esc(str(doc.get("started")))}, {esc(_fmt(doc.get("seconds")))} s; chapters {esc(" ".join(chapters))}</p>
<p><span class="pass">{counts["pass"]} pass</span> · <span class="xfail">{counts["xfail"]} expected fail</span> ·
<span class="fail">{counts["fail"]} fail</span> · <span class="error">{counts["error"]} error</span></p>
<p class="small">{provline}</p>
<table><tr><th>id</th><th>ch.</th><th>title</th><th>verdict</th><th>measured vs bar</th><th>s</th></tr>
{"".join(rows)}</table>
{"".join(sections)}
</body></html>
"""


def compare(a: str | Path, b: str | Path) -> str:
    """A plain-text side-by-side of two runs: verdicts and every shared metric."""
    da, db = load_result(a), load_result(b)
    ca = {c["id"]: c for c in da["claims"]}
    cb = {c["id"]: c for c in db["claims"]}
    lines = [
        f"A: {a} ({da.get('provenance', {}).get('git')})",
        f"B: {b} ({db.get('provenance', {}).get('git')})",
    ]
    for cid in list(ca) + [i for i in cb if i not in ca]:
        x, y = ca.get(cid), cb.get(cid)
        va = x["verdict"] if x else "-"
        vb = y["verdict"] if y else "-"
        lines.append(f"{cid:28s} {va:6s} {vb:6s}" + ("  <- changed" if va != vb else ""))
        keys = list((x or {}).get("metrics", {})) + [
            k for k in (y or {}).get("metrics", {}) if k not in (x or {}).get("metrics", {})
        ]
        for k in keys:
            ma = (x or {}).get("metrics", {}).get(k)
            mb = (y or {}).get("metrics", {}).get(k)
            lines.append(f"    {k:34s} {_fmt(ma):>12s} {_fmt(mb):>12s}")
    return "\n".join(lines)
