"""The lab book: a page per claim and an index, written beside a run's result.json or on its own.

``deltalab run`` writes ``RUN_DIR/book/index.html`` and ``RUN_DIR/book/<claim-id>.html``;
``deltalab book RUN_DIR`` re-builds them from a finished run and ``deltalab book --out DIR``
builds the book of every registered claim without a run (the pages then carry no measurements).
Each claim page has five sections:

1. the claim, in one sentence, with its chapter and its bar;
2. why it holds: the derivation, from ``experiments/derivations/<claim-id>.md``;
3. how it is measured: the setup, the baseline and the bar (the derivation's section, else the
   experiment's docstring);
4. what was measured: every seed's numbers against the bar, mean and spread, the verdict and the
   figures (the tables of :mod:`deltalab.lab.report`), or a note that the book was built without a run;
5. the code: the experiment function and the parts the derivation names, highlighted, each linked
   to its file and line.

Derivations are Markdown with LaTeX, rendered to MathML when the book is built, and checked by
:mod:`deltalab.lab.derivation`; code is highlighted by Pygments. The pages need no JavaScript and no
network (the index's filter is a few lines of inline script). A bad derivation never makes a run
fail: the run's book warns and shows the file's raw source.
"""

from __future__ import annotations

import functools
import html
import inspect
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deltalab.files import atomic_write_text
from deltalab.lab.book_code import code_block, dotted, static_bar
from deltalab.lab.derivation import (
    DERIVATIONS,
    SECTIONS,
    Derivation,
    _show_path,
    check_derivation,
    load_derivation,
    resolve,
)
from deltalab.lab.experiment import CHAPTERS, EXPERIMENTS, ExperimentSpec
from deltalab.lab.outdir import check_out, swap_into_place
from deltalab.lab.report import _bar_cell, _fmt, _metric_table, _status, load_result

BOOK_MARKER = ".deltalab-book"
"""an empty file in every book folder: the sign that ``deltalab book --out`` may replace it"""
_ASSETS = Path(__file__).resolve().parent / "book_assets"


@functools.lru_cache(maxsize=4)
def _asset(name: str) -> str:
    """A file of ``book_assets/`` (the stylesheet, the index's filter script)."""
    return (_ASSETS / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Pages


def _page(title: str, body: str, script: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="deltalab book">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="book.css"></head>'
        f"<body><main>{body}</main>{script}</body></html>\n"
    )


def _verdict(c: dict[str, Any] | None) -> tuple[str, str]:
    return _status(c) if c is not None else ("notrun", "not run")


def _figure_src(rel: str, f: str) -> str:
    return quote(f"{rel}/{f}" if rel not in ("", ".") else f)


def _measured(c: dict[str, Any] | None, doc: dict[str, Any] | None, run_dir: Path | None, rel: str) -> str:
    esc = html.escape
    if c is None:
        if doc is None:
            return (
                "<p class='note'>No measurements: this book was built without a run. "
                "<code>deltalab run ID</code> measures the claim and writes its page with the numbers.</p>"
            )
        return "<p class='note'>This claim was not part of the run the book was built from.</p>"
    cls, label = _status(c)
    seeds = [r.get("seed") for r in c.get("runs", [])]
    parts = [
        f"<p>Verdict: <span class='badge {esc(cls)}'>{esc(label)}</span> "
        f"<span class='small'>({esc(str(doc.get('profile')) if doc else '')} profile, "
        f"{len(seeds) or 1} seed{'s' if len(seeds) != 1 else ''}"
        f"{', ' + esc(str(seeds[0])) + '–' + esc(str(seeds[-1])) if len(seeds) > 1 else ''}; "
        f"{esc(_fmt(c.get('seconds')))} s)</span></p>"
    ]
    if c.get("reason"):
        parts.append(f"<p><b>Expected to fail:</b> {esc(c['reason'])}</p>")
    if c.get("bar_spec"):
        parts.append(
            "<p class='small'>Each barred metric: the mean [min–max over seeds] against the bar, then every "
            "seed's value (red: that seed misses the bar).</p><ul>"
            + "".join(f"<li>{_bar_cell(c, b)}</li>" for b in c["bar_spec"])
            + "</ul>"
        )
    parts.append("<h3>Every metric, every seed</h3>" + _metric_table(c))
    figs = []
    for f in c.get("figures", []):
        if run_dir is not None and not (run_dir / f).is_file():
            figs.append(f"<p class='small'>figure {esc(f)} is missing from the run folder</p>")
        else:
            figs.append(f"<img src='{esc(_figure_src(rel, f))}' alt='{esc(f)}'>")
    others = [f for r in c.get("runs", []) for f in r.get("figures", [])]
    if run_dir is not None:
        others = [f for f in others if (run_dir / f).is_file()]
    if figs:
        parts.append("<h3>Figures</h3>" + "".join(figs))
    if others:
        parts.append(
            f"<details><summary>the other seeds' figures ({len(others)})</summary>"
            + "".join(f"<img src='{esc(_figure_src(rel, f))}' alt='{esc(f)}'>" for f in others)
            + "</details>"
        )
    if c.get("message"):
        parts.append(f"<pre>{esc(c['message'])}</pre>")
    if c.get("config"):
        cfg = json.dumps(c["config"], sort_keys=True)
        parts.append(f"<p class='small'>config: <code>{esc(cfg)}</code></p>")
    return "".join(parts)


def claim_page(
    cid: str,
    spec: ExperimentSpec | None,
    c: dict[str, Any] | None,
    doc: dict[str, Any] | None,
    deriv: Derivation | None,
    *,
    run_dir: Path | None = None,
    rel: str = "..",
    nav: tuple[str | None, str | None] = (None, None),
) -> str:
    """One claim's page (HTML): the five sections, every embedded string escaped."""
    esc = html.escape
    title = spec.title if spec else (c or {}).get("title", cid)
    claim = spec.claim if spec else (c or {}).get("claim", "")
    chapter = spec.chapter if spec else (c or {}).get("chapter", "?")
    if c is not None and c.get("bar"):
        bar_words = c["bar"]
        checks = [f"{b['metric']} {b['op']} {_fmt(b['value'])}" for b in c.get("bar_spec", [])]
    else:
        bar_words, checks = static_bar(spec) if spec else ("", [])
    cls, label = _verdict(c)
    prev, nxt = nav
    navline = "<nav class='top'><a href='index.html'>↑ index</a>"
    navline += f"<a href='{esc(quote(prev))}.html'>← {esc(prev)}</a>" if prev else ""
    navline += f"<a href='{esc(quote(nxt))}.html'>{esc(nxt)} →</a>" if nxt else ""
    if doc is not None:
        navline += "<a href='" + esc(_figure_src(rel, "report.html")) + "'>the run's report</a>"
    navline += "</nav>"
    bar_html = (
        f"<div class='bar'><b>The bar.</b> {esc(bar_words) or 'stated by the experiment when it runs'}"
        + (
            f"<br><span class='small'>checked as: <code>{esc(' and '.join(checks))}</code></span>"
            if checks
            else ""
        )
        + "</div>"
    )
    s1 = (
        f"<h1>{esc(title)}</h1><p class='meta'><code>{esc(cid)}</code> · chapter {esc(chapter)}, "
        f"{esc(CHAPTERS.get(chapter, ''))} · <span class='badge {esc(cls)}'>{esc(label)}</span></p>"
        f"<h2 id='claim'><span class='num'>1</span>The claim</h2><p class='claim'>{esc(claim)}</p>{bar_html}"
    )
    doc_text = inspect.getdoc(spec.fn) if spec else None
    docstring = f"<div class='doc'>{esc(doc_text)}</div>" if doc_text else ""
    if deriv is None or deriv.error:
        why = (
            "<p class='note'>Derivation not written yet: <code>"
            + esc(_show_path(DERIVATIONS / f"{cid}.md"))
            + "</code> will hold it.</p>"
            if deriv is None
            else f"<p class='warn'>The derivation could not be rendered: {esc(deriv.error)}</p>"
            f"<pre>{esc(deriv.source)}</pre>"
        )
        how = docstring or "<p class='note'>The experiment has no docstring.</p>"
    else:
        why = deriv.sections.get("Why it holds", "")
        for extra in SECTIONS[2:]:
            if extra in deriv.sections:
                why += f"<h3>{esc(extra)}</h3>{deriv.sections[extra]}"
        how = deriv.sections.get("How it is measured", "")
        if docstring:
            how += f"<details><summary>the experiment's docstring</summary>{docstring}</details>"
    s2 = f"<h2 id='why'><span class='num'>2</span>Why it holds</h2>{why}"
    s3 = f"<h2 id='how'><span class='num'>3</span>How it is measured</h2>{how}{bar_html}"
    s4 = (
        f"<h2 id='measured'><span class='num'>4</span>What was measured</h2>{_measured(c, doc, run_dir, rel)}"
    )
    if spec is None:
        code = "<p class='note'>This claim is not registered in this version of deltalab.</p>"
    else:
        code = code_block(spec.fn, f"{dotted(spec.fn)} (the experiment)")
        for name in deriv.code if deriv and not deriv.error else []:
            try:
                code += code_block(resolve(name), name)
            except LookupError as e:
                code += f"<p class='warn'>{esc(str(e))}</p>"
    s5 = f"<h2 id='code'><span class='num'>5</span>The code</h2>{code}"
    return _page(f"{cid} — {title}", navline + s1 + s2 + s3 + s4 + s5)


def index_page(
    entries: list[tuple[str, ExperimentSpec | None, dict[str, Any] | None, Derivation | None]],
    doc: dict[str, Any] | None,
    rel: str,
) -> str:
    """The index: chapters, claims, verdicts, derivation status; filters by text and verdict."""
    esc = html.escape
    by_chapter: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for cid, spec, c, deriv in entries:
        chapter = spec.chapter if spec else (c or {}).get("chapter", "?")
        title = spec.title if spec else (c or {}).get("title", "")
        cls, label = _verdict(c)
        counts[label.split(" (")[0]] = counts.get(label.split(" (")[0], 0) + 1
        status = (
            "<span class='notrun'>not written yet</span>"
            if deriv is None
            else ("<span class='fail'>does not render</span>" if deriv.error else "written")
        )
        by_chapter.setdefault(chapter, []).append(
            f"<tr data-verdict='{esc(label.split(' (')[0])}'><td><a href='{esc(quote(cid))}.html'>"
            f"<code>{esc(cid)}</code></a></td><td>{esc(title)}</td>"
            f"<td class='{esc(cls)}'>{esc(label)}</td><td>{status}</td></tr>"
        )
    sections = []
    order = [ch for ch in CHAPTERS if ch in by_chapter] + [ch for ch in by_chapter if ch not in CHAPTERS]
    for ch in order:
        sections.append(
            f"<section class='chapter'><h2>{esc(ch)} · {esc(CHAPTERS.get(ch, ''))}</h2><table class='claims'>"
            "<tr><th>claim</th><th>title</th><th>verdict</th><th>derivation</th></tr>"
            + "".join(by_chapter[ch])
            + "</table></section>"
        )
    written = sum(d is not None and not d.error for _, _, _, d in entries)
    if doc is None:
        head = (
            "<p>Built without a run: the pages hold the claims, their derivations and their code; "
            "<code>deltalab run</code> writes the book with the measurements beside its result.json.</p>"
        )
    else:
        seeds = doc.get("seeds") or [doc.get("seed")]
        seedtxt = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
        git = doc.get("provenance", {}).get("git")
        head = (
            f"<p>From the run of {esc(str(doc.get('started')))}: profile <b>{esc(str(doc.get('profile')))}</b>, "
            f"{esc(seedtxt)}, commit {esc(str(git))}. "
            f"<a href='{esc(_figure_src(rel, 'report.html'))}'>The run's report</a>.</p>"
        )
    options = "".join(f"<option value='{esc(k)}'>{esc(k)} ({n})</option>" for k, n in sorted(counts.items()))
    body = (
        f"<h1>The deltalab lab book</h1>{head}"
        f"<p class='counts'>{len(entries)} claims; {written} derivations written. Each page: the claim, why "
        "it holds, how it is measured, what was measured, the code.</p>"
        "<div class='filters'><input id='q' type='search' placeholder='filter by text (id, title, verdict)' "
        "aria-label='filter by text'><select id='v' aria-label='filter by verdict'>"
        f"<option value=''>every verdict</option>{options}</select><span id='n' class='small'></span></div>"
        + "".join(sections)
    )
    return _page("deltalab lab book", body, f"<script>\n{_asset('filter.js')}</script>")


# --------------------------------------------------------------------------------------------------
# Writing


def _warn_stderr(msg: str) -> None:
    print(f"deltalab book: warning: {msg}", file=sys.stderr, flush=True)


def write_book(
    folder: str | Path,
    doc: dict[str, Any] | None = None,
    run_dir: str | Path | None = None,
    *,
    strict: bool = False,
    warn: Callable[[str], None] = _warn_stderr,
    derivations: Path | None = None,
) -> Path:
    """Write the book's pages into ``folder`` (created; files written atomically); return its index.

    ``doc`` is a run's result.json (``None``: every registered claim, no measurements); the run's
    figures are linked by relative path from ``folder`` to ``run_dir``. ``derivations`` is the folder
    of derivation files (default ``DERIVATIONS``). ``strict`` raises
    ``DerivationError`` on a bad derivation instead of warning and showing its raw source.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    derivations = derivations or DERIVATIONS
    rd = Path(run_dir) if run_dir is not None else None
    rel = Path(os.path.relpath(rd.resolve(), folder.resolve())).as_posix() if rd is not None else "."
    known = set(EXPERIMENTS.names())
    if doc is None:
        order = {ch: k for k, ch in enumerate(CHAPTERS)}
        ids = sorted(known, key=lambda i: order.get(EXPERIMENTS.get(i).chapter, len(order)))
        runs: dict[str, dict[str, Any]] = {}
    else:
        ids = [c["id"] for c in doc["claims"]]
        runs = {c["id"]: c for c in doc["claims"]}
    entries = []
    for cid in ids:
        if strict and (derivations / f"{cid}.md").is_file():
            deriv: Derivation | None = check_derivation(derivations / f"{cid}.md", sorted(known))
        else:
            deriv = load_derivation(cid, derivations, warn)
        spec = EXPERIMENTS.get(cid) if cid in known else None
        entries.append((cid, spec, runs.get(cid), deriv))
    css = _asset("book.css")
    from pygments.formatters import HtmlFormatter

    atomic_write_text(folder / "book.css", css + HtmlFormatter().get_style_defs(".highlight") + "\n")
    for k, (cid, spec, c, deriv) in enumerate(entries):
        nav = (entries[k - 1][0] if k else None, entries[k + 1][0] if k + 1 < len(entries) else None)
        page = claim_page(cid, spec, c, doc, deriv, run_dir=rd, rel=rel, nav=nav)
        atomic_write_text(folder / f"{cid}.html", page)
    (folder / BOOK_MARKER).touch()
    return atomic_write_text(folder / "index.html", index_page(entries, doc, rel))


def write_run_book(
    run_dir: str | Path, doc: dict[str, Any], warn: Callable[[str], None] = _warn_stderr
) -> None:
    """``run_dir/book/`` for a run that has just been written; never raises (a run never fails on it)."""
    try:
        write_book(Path(run_dir) / "book", doc, run_dir, warn=warn)
    except Exception as e:  # noqa: BLE001 - the book is a view of the run, not part of its verdicts
        warn(f"the lab book was not written ({type(e).__name__}: {e}); `deltalab book RUN_DIR` retries")


def is_book_folder(folder: Path) -> bool:
    """True for a folder ``deltalab book`` (or a run) wrote: it holds the book marker."""
    return (folder / BOOK_MARKER).is_file()


def check_book_out(out: str | Path) -> Path:
    """Where a book may go (the rules of ``lab.outdir.check_out``, with a book as the thing replaced)."""
    return check_out(
        out, owned=is_book_folder, writer="deltalab book", mark=f"no {BOOK_MARKER}", example="book"
    )


def build(
    run_dir: str | Path | None = None,
    out: str | Path | None = None,
    *,
    strict: bool = False,
    warn: Callable[[str], None] = _warn_stderr,
) -> Path:
    """``deltalab book``: the book of a finished run (default ``RUN_DIR/book``) or, without a run, of
    every registered claim into ``out``. The folder is replaced whole, only once the new book is
    complete (written beside it, then renamed); returns the index page."""
    if run_dir is None and out is None:
        raise ValueError(
            "give a run folder (deltalab book RUN_DIR) or a folder for a book without a run (--out DIR)"
        )
    doc = load_result(run_dir) if run_dir is not None else None
    out_path = check_book_out(out if out is not None else Path(run_dir) / "book")  # type: ignore[arg-type]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = out_path.parent / f".{out_path.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        write_book(staging, doc, run_dir, strict=strict, warn=warn)
        check_book_out(out_path)  # the folder may have changed meanwhile
        swap_into_place(staging, out_path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_path / "index.html"
