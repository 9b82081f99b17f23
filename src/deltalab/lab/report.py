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
from pathlib import Path
from typing import Any

from deltalab.files import atomic_write_text
from deltalab.lab.aggregate import verdict_label
from deltalab.lab.experiment import CHAPTERS


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
    """A run's result.json (schema 1 or 2), from its folder or the file; ``ValueError`` if it is not one."""
    path = Path(folder)
    path = path / "result.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no result.json at {folder}: pass a folder written by `deltalab run`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); re-run `deltalab run` to regenerate it") from e
    problem = _shape_problem(doc)
    if problem:
        raise ValueError(f"{path} is not a deltalab result: {problem}")
    return doc


def _shape_problem(doc: Any) -> str:
    if not isinstance(doc, dict):
        return f"expected a JSON object, found a {type(doc).__name__}"
    claims = doc.get("claims")
    if not isinstance(claims, list):
        return "expected a list under 'claims'"
    for k, c in enumerate(claims):
        if not isinstance(c, dict):
            return f"claim {k} is a {type(c).__name__}, not an object"
        missing = [f for f in ("id", "chapter", "verdict") if f not in c]
        if missing:
            return f"claim {c.get('id', k)!r} lacks {', '.join(missing)}"
        if not isinstance(c.get("metrics", {}), dict) or not isinstance(c.get("runs", []), list):
            return f"claim {c['id']!r}: metrics must be an object and runs a list"
    return ""


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
.unstable{color:#7b1fa2;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
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
    """(CSS class, label): an expected failure is grey, an unexpected pass red, unstable purple."""
    label = verdict_label(c)
    if label == "expected fail":
        return "xfail", label
    if label == "unexpected pass":
        return "fail", label
    return c["verdict"], label


def _runs(c: dict[str, Any]) -> list[dict[str, Any]]:
    """A claim's seed-runs; a schema-1 claim is its own single run."""
    return c.get("runs") or [
        {"seed": None, "verdict": c["verdict"], "metrics": c.get("metrics", {}), "seconds": c.get("seconds")}
    ]


def _bar_cell(c: dict[str, Any], b: dict[str, Any]) -> str:
    """``metric = mean [min–max] op bar`` and each seed's value, marked where that seed misses it."""
    esc = html.escape
    name = b["metric"]
    mean = c.get("metrics", {}).get(name)
    s = c.get("spread", {}).get(name)
    rng = f" [{_fmt(s['min'])}–{_fmt(s['max'])}]" if s and len(_runs(c)) > 1 else ""
    head = f"<code>{esc(name)} = {esc(_fmt(mean))}{esc(rng)} {esc(b['op'])} {esc(_fmt(b['value']))}</code>"
    runs = _runs(c)
    if len(runs) < 2:
        return head
    seeds = []
    for r in runs:
        v = r.get("metrics", {}).get(name)
        missed = r["verdict"] != "error" and not _holds(b, v)
        seeds.append(
            f"<span class='{'fail' if missed else ''}'>s{esc(str(r['seed']))}: {esc(_fmt(v))}</span>"
        )
    return head + "<br><span class='small'>" + " · ".join(seeds) + "</span>"


def _holds(b: dict[str, Any], v: Any) -> bool:
    from deltalab.lab.result import OPS

    return isinstance(v, (int, float)) and OPS[b["op"]](v, b["value"])


def _metric_table(c: dict[str, Any]) -> str:
    esc = html.escape
    runs = _runs(c)
    multi = len(runs) > 1
    head = "<tr><th>metric</th><th>mean</th>" if multi else "<tr><th>metric</th><th>value</th>"
    if multi:
        head += "<th>min</th><th>max</th><th>std</th>" + "".join(
            f"<th>seed {esc(str(r['seed']))}</th>" for r in runs
        )
    rows = [head + "</tr>"]
    for k, v in c.get("metrics", {}).items():
        cells = [f"<td><code>{esc(k)}</code></td><td class='num'>{esc(_fmt(v))}</td>"]
        if multi:
            s = c.get("spread", {}).get(k, {})
            cells += [f"<td class='num'>{esc(_fmt(s.get(q)))}</td>" for q in ("min", "max", "std")]
            cells += [f"<td class='num'>{esc(_fmt(r.get('metrics', {}).get(k)))}</td>" for r in runs]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if multi:
        verdicts = "".join(f"<td class='{esc(r['verdict'])}'>{esc(r['verdict'])}</td>" for r in runs)
        secs = "".join(f"<td class='num'>{esc(_fmt(r.get('seconds')))}</td>" for r in runs)
        pad = "<td></td>" * 4
        rows.append(f"<tr><td>verdict</td>{pad}{verdicts}</tr><tr><td>seconds</td>{pad}{secs}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def render_html(doc: dict[str, Any]) -> str:
    esc = html.escape
    claims = doc.get("claims", [])
    prov = doc.get("provenance", {})
    kinds = ("pass", "xfail", "fail", "unstable", "error")
    counts = {k: sum(_status(c)[0] == k for c in claims) for k in kinds}
    rows, sections = [], []
    for c in claims:
        cls, label = _status(c)
        barcells = "<br>".join(_bar_cell(c, b) for b in c.get("bar_spec", []))
        rows.append(
            f"<tr><td><a href='#{esc(c['id'])}'>{esc(c['id'])}</a></td><td>{esc(c['chapter'])}</td>"
            f"<td>{esc(c.get('title', ''))}</td><td class='{cls}'>{esc(label)}</td><td>{barcells}</td>"
            f"<td class='num'>{esc(_fmt(c.get('seconds')))}</td></tr>"
        )
        figs = "".join(f"<img src='{esc(f)}' alt='{esc(f)}'>" for f in c.get("figures", []))
        others = [f"<a href='{esc(f)}'>{esc(f)}</a>" for r in c.get("runs", []) for f in r.get("figures", [])]
        if others:
            figs += "<p class='small'>the other seeds' figures: " + " · ".join(others) + "</p>"
        reason = f"<p><b>Expected to fail:</b> {esc(c['reason'])}</p>" if c.get("reason") else ""
        msg = f"<pre>{esc(c['message'])}</pre>" if c.get("message") else ""
        cfg = esc(json.dumps(c.get("config", {}), sort_keys=True))
        sections.append(
            f"<div class='claim' id='{esc(c['id'])}'><h2>{esc(c['id'])} <span class='{cls}'>{esc(label)}</span></h2>"
            f"<p>{esc(c.get('claim', ''))}</p><p><b>Bar:</b> {esc(c.get('bar', ''))}</p>{reason}"
            f"{_metric_table(c)}{figs}{msg}<p class='small'>config: <code>{cfg}</code></p></div>"
        )
    chapters = sorted({c["chapter"] for c in claims if c["chapter"] in CHAPTERS}, key=list(CHAPTERS).index)
    provline = ", ".join(f"{esc(k)}: {esc(str(v))}" for k, v in prov.items() if k != "argv")
    seeds = doc.get("seeds") or [doc.get("seed")]
    seedtxt = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>deltalab report</title><style>{_CSS}</style></head><body>
<h1>deltalab report</h1>
<p>profile <b>{esc(str(doc.get("profile")))}</b>, {esc(seedtxt)}, device {esc(str(doc.get("device")))},
started {esc(str(doc.get("started")))}, {esc(_fmt(doc.get("seconds")))} s; chapters {esc(" ".join(chapters))}</p>
<p><span class="pass">{counts["pass"]} pass</span> · <span class="xfail">{counts["xfail"]} expected fail</span> ·
<span class="fail">{counts["fail"]} fail</span> · <span class="unstable">{counts["unstable"]} unstable</span> ·
<span class="error">{counts["error"]} error</span></p>
<p class="small">A claim passes when every seed passes its bar; seeds that disagree make it unstable.
The table shows each barred metric's mean [min–max over seeds] against the bar, then each seed's value
(red: that seed misses the bar).</p>
<p class="small">{provline}</p>
<table><tr><th>id</th><th>ch.</th><th>title</th><th>verdict</th><th>measured vs bar</th><th>s</th></tr>
{"".join(rows)}</table>
{"".join(sections)}
</body></html>
"""


def _seed_verdicts(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    runs = c.get("runs")
    if not runs:
        return c["verdict"]
    return f"{c['verdict']} ({' '.join(r['verdict'][0] for r in runs)})"


def compare(a: str | Path, b: str | Path) -> str:
    """A plain-text side-by-side of two runs (schema 1 or 2): verdicts and every shared metric's mean."""
    da, db = load_result(a), load_result(b)
    ca = {c["id"]: c for c in da["claims"]}
    cb = {c["id"]: c for c in db["claims"]}

    def head(tag: str, path: str | Path, d: dict[str, Any]) -> str:
        seeds = d.get("seeds") or [d.get("seed")]
        return f"{tag}: {path} ({d.get('provenance', {}).get('git')}, {d.get('profile')}, seeds {seeds})"

    lines = [
        head("A", a, da),
        head("B", b, db),
        "verdicts with each seed's initial (p pass, f fail, e error); metrics are means over seeds",
    ]
    for cid in list(ca) + [i for i in cb if i not in ca]:
        x, y = ca.get(cid), cb.get(cid)
        va, vb = _seed_verdicts(x), _seed_verdicts(y)
        changed = (x or {}).get("verdict") != (y or {}).get("verdict")
        lines.append(f"{cid:28s} {va:20s} {vb:20s}" + ("  <- changed" if changed else ""))
        ma, mb = (x or {}).get("metrics", {}), (y or {}).get("metrics", {})
        for k in list(ma) + [k for k in mb if k not in ma]:
            lines.append(f"    {k:34s} {_fmt(ma.get(k)):>12s} {_fmt(mb.get(k)):>12s}")
    return "\n".join(lines)
