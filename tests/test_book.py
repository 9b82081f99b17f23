"""The lab book: derivations render strictly, pages have five sections, the book works offline in Chromium.

The browser test drives headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) over the
DevTools protocol on a pipe (no network, no extra package) and skips, saying so, where it is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import pytest

from deltalab.cli import main
from deltalab.lab import book
from deltalab.lab.book import write_book
from deltalab.lab.derivation import DERIVATIONS, DerivationError, _tex_to_mathml, check_derivation
from deltalab.lab.experiment import EXPERIMENTS

SECTION_IDS = ("claim", "why", "how", "measured", "code")
DERIVATION_FILES = sorted(DERIVATIONS.glob("*.md"))


@pytest.mark.parametrize("path", DERIVATION_FILES, ids=[p.name for p in DERIVATION_FILES])
def test_derivation_file_builds(path):
    d = check_derivation(path, EXPERIMENTS.names())
    assert d.sections["Why it holds"] and d.sections["How it is measured"]
    assert "<math" in d.sections["Why it holds"], "a derivation derives: it has math"


GOOD = """<!-- code: deltalab.nn.rope.RotaryEmbedding -->

## Why it holds

Inline $\\frac{a}{b}$ and display:

$$
\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}
$$

## How it is measured

The bar: `metric` below $10^{-5}$.
"""


def _write(tmp_path, text, name="rope.md"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_derivation_renders_mathml_and_aligned_as_a_table(tmp_path):
    d = check_derivation(_write(tmp_path, GOOD), EXPERIMENTS.names())
    why = d.sections["Why it holds"]
    assert why.count("<math") == 2 and "<mfrac>" in why and "<mtable" in why
    assert "$" not in why and "\\" not in why
    assert d.code == ["deltalab.nn.rope.RotaryEmbedding"]


@pytest.mark.parametrize(
    "text, line, what",
    [
        (GOOD.replace("Inline $\\frac{a}{b}$", "Inline $\\foo{a}$"), 5, r"unknown LaTeX command \\foo"),
        (
            GOOD.replace("Inline $\\frac{a}{b}$", "Inline $x^$"),
            5,
            "latex2mathml cannot convert.*MissingSuperScript",
        ),
        (GOOD.replace("Inline $\\frac{a}{b}$", "Inline $x^{2$"), 5, "unbalanced braces"),
        (GOOD.replace("Inline $\\frac{a}{b}$", "costs $5"), 5, "opens no math"),
        (GOOD.replace("Inline $\\frac{a}{b}$", "Inline \\frac{a}{b}"), 5, "LaTeX outside"),
        (
            GOOD.replace("\\begin{aligned} a &= b", "\\begin{align} a &= b").replace("{aligned}", "{align}"),
            7,
            "not supported",
        ),
        (
            GOOD.replace("\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}", "a \\\\ b"),
            7,
            "outside an aligned",
        ),
        (GOOD.replace("$10^{-5}$", "$x \\tag{1}$"), 13, "not supported"),
        (GOOD.replace("RotaryEmbedding", "NoSuchThing"), 1, "code: .*names no module"),
        (GOOD.replace("<!-- code:", "<!-- kode:"), 1, "must read <!-- code:"),
        (GOOD.replace("## How it is measured", "## Setup"), 11, "unknown heading"),
        (
            GOOD.replace("## How it is measured", "## Checked numerically"),
            1,
            "missing '## How it is measured'",
        ),
        (GOOD.replace("## Why it holds", "Intro text.\n\n## Why it holds"), 3, "text before the first"),
        (GOOD + "\n## Why it holds\n\nagain\n", 15, "appears twice"),
        (GOOD.replace("Inline $\\frac{a}{b}$", "![plot](https://example.org/x.png)"), 5, "an image"),
    ],
)
def test_bad_derivation_names_file_and_line(tmp_path, text, line, what):
    with pytest.raises(DerivationError, match=rf"rope\.md:{line}: .*{what}"):
        check_derivation(_write(tmp_path, text), EXPERIMENTS.names())


def test_derivation_of_an_unknown_claim_is_refused(tmp_path):
    with pytest.raises(DerivationError, match=r"no claim 'ropee'.*did you mean rope\.md"):
        check_derivation(_write(tmp_path, GOOD, "ropee.md"), EXPERIMENTS.names())


# --------------------------------------------------------------------------------------------------
# Writing the book


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 0.5, 0.2])
    fig.savefig(path, dpi=60)
    plt.close(fig)


def _fake_run(run: Path) -> dict:
    """A schema-2 run of three claims (as written by ``deltalab run``), figures on disk."""

    def claim(cid, verdict, expected="pass", values=(0.01, 0.02, 0.03)):
        spec = EXPERIMENTS.get(cid)
        runs = [
            {
                "seed": s,
                "verdict": "pass" if v < 0.1 else "fail",
                "metrics": {"err": v, "other": 1.0},
                "seconds": 0.5,
            }
            | ({"figures": [f"seed-{s}/{cid}.png"]} if s else {})
            for s, v in enumerate(values)
        ]
        for s in (0, 1, 2):
            _png(run / (f"seed-{s}/{cid}.png" if s else f"{cid}.png"))
        return {
            "id": cid,
            "chapter": spec.chapter,
            "title": spec.title,
            "claim": spec.claim,
            "expected": expected,
            "reason": "measured 0.5, not below 0.1" if expected == "fail" else "",
            "verdict": verdict,
            "metrics": {"err": sum(values) / 3, "other": 1.0},
            "spread": {"err": {"min": min(values), "max": max(values), "std": 0.01}},
            "runs": runs,
            "nonfinite": [],
            "bar": "err below 0.1 <b>escaped</b>",
            "bar_spec": [{"metric": "err", "op": "<", "value": 0.1}],
            "config": {"steps": 10},
            "seconds": 1.5,
            "figures": [f"{cid}.png"],
            "message": "",
        }

    doc = {
        "schema": 2,
        "profile": "quick",
        "seed": 0,
        "seeds": [0, 1, 2],
        "device": "cpu",
        "started": "2026-12-01T00:00:00.000000Z",
        "seconds": 4.5,
        "provenance": {"git": "abc1234", "dirty": False},
        "claims": [
            claim("sgd-step-size", "pass"),
            claim("rope", "fail", expected="fail", values=(0.5, 0.5, 0.5)),
            claim("ce-vs-mse", "unstable", values=(0.05, 0.5, 0.05)),
        ],
    }
    run.mkdir(parents=True, exist_ok=True)
    (run / "result.json").write_text(json.dumps(doc), encoding="utf-8")
    (run / ".deltalab-run").touch()
    (run / "report.html").write_text("<!doctype html><title>report</title>", encoding="utf-8")
    return doc


@pytest.fixture
def derivs(tmp_path):
    """Two real derivations (sgd-step-size, rope); ce-vs-mse has none."""
    folder = tmp_path / "derivations"
    folder.mkdir()
    for cid in ("sgd-step-size", "rope"):
        shutil.copy(DERIVATIONS / f"{cid}.md", folder)
    return folder


def test_run_book_has_five_sections_measurements_and_relative_figures(tmp_path, derivs):
    run = tmp_path / "run"
    doc = _fake_run(run)
    index = write_book(run / "book", doc, run, derivations=derivs)
    assert index == run / "book" / "index.html"
    for c in doc["claims"]:
        page = (run / "book" / f"{c['id']}.html").read_text()
        for sid in SECTION_IDS:
            assert f"id='{sid}'" in page
        assert "Every metric, every seed" in page and "s1: 0.5" in page or c["id"] != "ce-vs-mse"
        for src in re.findall(r"<img src='([^']+)'", page):
            assert (run / "book" / src).resolve().is_file(), src
        assert "&lt;b&gt;escaped&lt;/b&gt;" in page and "<b>escaped</b>" not in page
    rope = (run / "book" / "rope.html").read_text()
    assert "expected fail" in rope and "measured 0.5, not below 0.1" in rope and "<math" in rope
    assert "deltalab/nn/rope.py" in rope and "RotaryEmbedding" in rope
    ce = (run / "book" / "ce-vs-mse.html").read_text()
    assert "Derivation not written yet" in ce and "unstable (pass at 0, 2; fail at 1)" in ce
    idx = index.read_text()
    assert all(f"href='{c['id']}.html'" in idx for c in doc["claims"]) and "../report.html" in idx


def test_book_without_a_run_covers_every_claim_within_budget(tmp_path):
    ids = EXPERIMENTS.names()
    before = {p.name for p in DERIVATIONS.glob("*.md")}  # others write derivations meanwhile
    t0 = time.process_time()
    write_book(tmp_path / "book", None)
    cpu = time.process_time() - t0
    assert cpu < 5.0, f"writing the book of {len(ids)} claims took {cpu:.1f} CPU-seconds"
    for cid in ids:
        page = (tmp_path / "book" / f"{cid}.html").read_text()
        assert all(f"id='{sid}'" in page for sid in SECTION_IDS), cid
        assert "No measurements" in page and 'class="highlight"' in page, cid
        if (f"{cid}.md" in before) == (DERIVATIONS / f"{cid}.md").is_file():
            assert ("Derivation not written yet" in page) != (f"{cid}.md" in before), cid
    assert (tmp_path / "book" / "book.css").is_file()


def test_static_bar_reads_the_experiment_source():
    words, checks = book.static_bar(EXPERIMENTS.get("sgd-step-size"))
    assert "within 5%" in words and "max_rel_err_1_minus_rate <= 0.05" in checks


def test_bad_derivation_warns_at_run_time_and_fails_strictly(tmp_path, derivs):
    (derivs / "rope.md").write_text(GOOD.replace("$\\frac{a}{b}$", "$\\foo$"), encoding="utf-8")
    run = tmp_path / "run"
    doc = _fake_run(run)
    warnings = []
    write_book(run / "book", doc, run, derivations=derivs, warn=warnings.append)
    assert len(warnings) == 1 and "rope.md:5:" in warnings[0]
    page = (run / "book" / "rope.html").read_text()
    assert "could not be rendered" in page and "<pre>&lt;!-- code:" in page
    with pytest.raises(DerivationError, match=r"rope\.md:5: .*\\foo"):
        write_book(tmp_path / "strict", doc, run, derivations=derivs, strict=True)


def test_run_book_never_fails_the_run(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(book, "write_book", boom)
    said = []
    book.write_run_book(tmp_path, {"claims": []}, warn=said.append)
    assert "not written" in said[0] and "disk on fire" in said[0]


def test_cli_book_rebuilds_refuses_and_replaces(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fake_run(tmp_path / "run")
    assert main(["book", "run"]) == 0
    assert (tmp_path / "run" / "book" / "index.html").is_file()
    assert capsys.readouterr().out.strip().endswith("index.html")
    assert main(["book", "run", "--out", "elsewhere"]) == 0  # figures linked back to run/
    assert "../run/sgd-step-size.png" in (tmp_path / "elsewhere" / "sgd-step-size.html").read_text()
    (tmp_path / "elsewhere" / "stale.html").write_text("old")
    assert main(["book", "run", "--out", "elsewhere"]) == 0  # a previous book is replaced whole
    assert not (tmp_path / "elsewhere" / "stale.html").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["book", "--out", "mine"]) == 2
    assert "refusing to replace it" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert main(["book"]) == 2
    assert "give a run folder" in capsys.readouterr().err
    assert main(["book", "nope"]) == 2
    assert "no result.json" in capsys.readouterr().err
    assert main(["book", "run", "--out", "."]) == 2
    assert not list(tmp_path.glob(".*staging*"))


def test_cli_strict_stops_at_a_bad_derivation(tmp_path, monkeypatch, capsys, derivs):
    (derivs / "rope.md").write_text(GOOD.replace("$\\frac{a}{b}$", "$\\foo$"), encoding="utf-8")
    monkeypatch.setattr(book, "DERIVATIONS", derivs)
    monkeypatch.chdir(tmp_path)
    _fake_run(tmp_path / "run")
    assert main(["book", "run", "--strict"]) == 2
    assert re.search(r"error: .*rope\.md:5: .*\\foo", capsys.readouterr().err)
    assert not (tmp_path / "run" / "book").exists()
    assert main(["book", "run"]) == 0  # not strict: a warning, the raw file on its page
    assert "rope.md:5:" in capsys.readouterr().err


def test_deltalab_run_writes_the_book(tmp_path):
    from deltalab.lab.runner import run

    doc = run(["normal-equations"], seeds=1, jobs=1, out=tmp_path / "r", verbose=False)
    page = tmp_path / "r" / "book" / "normal-equations.html"
    assert page.is_file() and (tmp_path / "r" / "book" / "index.html").is_file()
    text = page.read_text()
    assert "Every metric, every seed" in text and doc["claims"][0]["verdict"] in text
    assert "src='../normal-equations.png'" in text


# --------------------------------------------------------------------------------------------------
# In a real browser: headless Chromium over the DevTools protocol on a pipe


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Headless Chromium driven through ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, NUL-framed JSON)."""

    def __init__(self, exe: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def fds() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        args = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            "--no-first-run",
        ]
        args += [f"--user-data-dir={profile}", "--disable-extensions", "--mute-audio", "about:blank"]
        self._log = profile.with_suffix(".log")
        with open(self._log, "wb") as log:
            self.proc = subprocess.Popen(
                args, pass_fds=(3, 4), preexec_fn=fds, stdout=subprocess.DEVNULL, stderr=log
            )
        os.close(cmd_r)
        os.close(res_w)
        self._next = 0
        self._inbox: Queue = Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1100,
            height=1500,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._res_r, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                buf += chunk
                *msgs, buf = buf.split(b"\0")
                for m in msgs:
                    self._inbox.put(json.loads(m))

    def call(self, method: str, session: bool = False, timeout: float = 60.0, **params) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._get(timeout)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _get(self, timeout: float) -> dict:
        try:
            return self._inbox.get(timeout=timeout)
        except Empty:
            tail = self._log.read_text(errors="replace")[-2000:] if self._log.is_file() else ""
            raise TimeoutError(
                f"Chromium did not answer (exit code {self.proc.poll()}); its stderr:\n{tail}"
            ) from None

    def open(self, url: str, timeout: float = 60.0) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._get(max(deadline - time.monotonic(), 0.1)))
        time.sleep(0.2)  # late console messages
        while not self._inbox.empty():
            self.events.append(self._inbox.get())

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:60]}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:300])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(json.dumps(p.get("args"))[:300])
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)


PAGE_STATE = """(() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll("pre, code, math, .highlight, script").forEach(n => n.remove());
  return {
    text: body.innerText,
    maths: document.querySelectorAll("math").length,
    mathBoxes: [...document.querySelectorAll("math")].filter(m => m.getBoundingClientRect().width > 0).length,
    images: [...document.images].map(i => [i.getAttribute("src"), i.complete && i.naturalWidth > 0]),
    sections: [...document.querySelectorAll("h2[id]")].map(h => h.id),
  };
})()"""


def test_book_in_headless_chromium(tmp_path, derivs):
    exe = _chromium()
    if exe is None:
        pytest.skip(
            "no chromium on PATH: install Debian's `chromium` package (.ci/run does) to run the browser test"
        )
    run = tmp_path / "run"
    doc = _fake_run(run)
    index = write_book(run / "book", doc, run, derivations=derivs)
    shots = Path(os.environ.get("DELTALAB_BOOK_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    browser = Browser(exe, tmp_path / "profile")
    try:
        browser.open(index.as_uri())
        assert browser.errors() == []
        rows = browser.evaluate("document.querySelectorAll('tr[data-verdict]:not(.hidden)').length")
        assert rows == 3
        browser.evaluate(
            "const q = document.getElementById('q'); q.value = 'RoPE'; q.dispatchEvent(new Event('input'))"
        )
        assert browser.evaluate(
            "[...document.querySelectorAll('tr[data-verdict]:not(.hidden)')].map(r => r.dataset.verdict)"
        ) == ["expected fail"]
        browser.evaluate(
            "document.getElementById('q').value = ''; const v = document.getElementById('v'); "
            "v.value = 'unstable'; v.dispatchEvent(new Event('change'))"
        )
        assert browser.evaluate("document.querySelectorAll('tr[data-verdict]:not(.hidden)').length") == 1
        assert browser.errors() == []
        browser.evaluate(
            "document.getElementById('v').value = ''; document.getElementById('v').dispatchEvent(new Event('change'))"
        )
        browser.screenshot(shots / "index.png")
        for c in doc["claims"]:
            browser.open((run / "book" / f"{c['id']}.html").as_uri())
            state = browser.evaluate(PAGE_STATE)
            assert browser.errors() == [], c["id"]
            assert state["sections"] == list(SECTION_IDS), c["id"]
            assert state["images"] and all(ok for _, ok in state["images"]), state["images"]
            assert not re.search(r"\$[^$\n]+\$|\\[A-Za-z]{2,}", state["text"]), c["id"]
            if c["id"] != "ce-vs-mse":
                assert state["maths"] >= 5 and state["mathBoxes"] == state["maths"], c["id"]
            browser.screenshot(shots / f"{c['id']}.png")
    finally:
        browser.close()


@pytest.mark.parametrize(
    "tex", [r"\arg\min_w f(w)", r"\argmin_w f", r"\operatorname*{arg\,max}_k p_k", r"\operatorname{tr}(A)"]
)
def test_operator_names_latex2mathml_garbles_are_rewritten(tex):
    out = _tex_to_mathml(tex, False)
    assert "\\" not in out and "<mo>*</mo>" not in out and "<mo />" not in out


def test_norm_bars_stretch_only_with_left_right():
    plain = _tex_to_mathml(r"\lVert w \rVert^2 + \frac{a}{b}", True)
    assert plain.count('<mo stretchy="false">&#x02016;</mo>') == 2
    fenced = _tex_to_mathml(r"\left\lVert \frac{a}{b} \right\rVert", True)
    assert fenced.count('stretchy="true"') == 2
