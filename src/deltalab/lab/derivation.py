"""Derivation files: Markdown + LaTeX, rendered to HTML with MathML, checked strictly.

One file per claim, ``src/deltalab/experiments/derivations/<claim-id>.md``: CommonMark (markdown-it-py)
with LaTeX between ``$`` (inline) and ``$$`` (display, mdit-py-plugins' dollarmath), converted to
MathML by latex2mathml when the book is built, so pages need no JavaScript and no network. The file
may start with ``<!-- code: dotted.path, ... -->`` (the parts whose source the book page shows) and
has these H2 headings, in this order, the first two required: ``SECTIONS``.

``check_derivation`` is strict (tests, ``deltalab book --strict``): a file that breaks the format
raises ``DerivationError`` naming the file and line. ``load_derivation`` is what a run uses: a bad
file gives a warning and keeps its raw source, so that the book never makes a run fail.

Departures from what latex2mathml takes as is (it renders these wrongly or not at all):
``\\begin{aligned}`` is converted as ``\\begin{align*}`` (the same right/left column pairs);
``\\arg``, ``\\argmin``, ``\\argmax`` and ``\\operatorname*{arg\\,min}`` (any name that is not
letters only) as ``\\mathrm{...}``; the bars of ``\\lVert``, ``\\lvert`` and ``\\mid`` do not stretch
(only ``\\left``/``\\right`` do, as in LaTeX). What it silently mis-renders (an unknown command, ``&`` or
``\\\\`` outside an environment, unbalanced braces, macros and labels) is refused instead.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltalab.lab.experiment import EXPERIMENTS

DERIVATIONS = Path(__file__).resolve().parents[1] / "experiments" / "derivations"
"""one ``<claim-id>.md`` per claim"""
SECTIONS = ("Why it holds", "How it is measured", "Checked numerically", "Corrections to the notes")
REQUIRED = SECTIONS[:2]
_PKG_ROOT = Path(__file__).resolve().parents[1]  # .../deltalab
_CODE_LINE = re.compile(r"\s*<!--\s*code:\s*(.*?)\s*-->\s*")
_FORBIDDEN_TEX = re.compile(
    r"\\(newcommand|renewcommand|def|label|eqref|ref|tag)\b|\\begin\{(align|equation|eqnarray|gather)\*?\}"
)


class DerivationError(ValueError):
    """A derivation file that does not follow the format; the message starts with ``file:line:``."""


@functools.lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    # html off: a derivation's raw HTML is shown as text, never injected into the page
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.use(dollarmath_plugin, allow_labels=False, allow_space=True, allow_digits=False, double_inline=True)

    def math(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        return tokens[idx].meta["mathml"]

    for kind in ("math_inline", "math_inline_double", "math_block"):
        md.add_render_rule(kind, math)
    return md


def _rewrite_tex(latex: str) -> str:
    """The LaTeX the format allows, in the forms latex2mathml renders right (see the module docstring)."""
    tex = re.sub(r"\\(begin|end)\{aligned\}", r"\\\1{align*}", latex)
    tex = re.sub(r"\\arg(min|max)(?![A-Za-z])", r"\\mathrm{arg\\,\1}", tex)
    tex = re.sub(r"\\arg(?![A-Za-z])", r"\\mathrm{arg}", tex)

    def opname(m: re.Match[str]) -> str:
        # latex2mathml takes \operatorname{tr} but garbles a name with spacing or a star
        name = m.group(1)
        return f"\\operatorname{{{name}}}" if name.isalpha() else f"\\mathrm{{{name}}}"

    return re.sub(r"\\operatorname\*?\{([^{}]*)\}", opname, tex)


@functools.lru_cache(maxsize=8192)
def _tex_to_mathml(latex: str, display: bool) -> str:
    """MathML for ``latex``; ``ValueError`` (one line) where latex2mathml would render it wrongly."""
    from latex2mathml.converter import convert

    bad = _FORBIDDEN_TEX.search(latex)
    if bad:
        raise ValueError(
            f"{bad.group(0)} is not supported (no macros, labels, tags or numbered environments)"
        )
    depth = 0
    for ch in re.sub(r"\\[{}]", "", latex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth:
        raise ValueError("unbalanced braces { }")
    tex = _rewrite_tex(latex)
    try:
        out = convert(tex, display="block" if display else "inline")
    except Exception as e:  # noqa: BLE001 - latex2mathml raises bare Exception subclasses
        raise ValueError(
            f"latex2mathml cannot convert it ({type(e).__name__}: {e})".rstrip(": )") + ")"
        ) from e
    unknown = re.search(r"\\[A-Za-z]+", out)
    if unknown:
        raise ValueError(f"unknown LaTeX command {unknown.group(0)}")
    if "<mi>&</mi>" in out:
        raise ValueError("& outside an aligned environment")
    if 'linebreak="newline"' in out:
        raise ValueError(
            r"\\ outside an aligned, cases or matrix environment (a line break MathML cannot show)"
        )
    # \lVert, \lvert and \mid come out as bare <mo>, which a browser stretches to the height of the
    # whole row (a norm beside a fraction gets bars as tall as the fraction); only \left/\right stretch
    return re.sub(r"<mo>(&#x02016;|&#x0007C;|&#x02223;)</mo>", r'<mo stretchy="false">\1</mo>', out)


@dataclass
class Derivation:
    """A parsed derivation file: each section's HTML and the code it names."""

    path: Path
    sections: dict[str, str] = field(default_factory=dict)
    code: list[str] = field(default_factory=list)
    error: str = ""
    """set (``file:line: what``) when the file could not be rendered; ``source`` is then shown raw"""
    source: str = ""


def _fail(path: Path, line: int, msg: str) -> DerivationError:
    return DerivationError(f"{_show_path(path)}:{line}: {msg}")


def resolve(dotted: str) -> Any:
    """The module, class or function named ``deltalab.x.y[.Name[.attr]]``; ``LookupError`` if none."""
    if not re.fullmatch(r"deltalab(\.[A-Za-z_][A-Za-z0-9_]*)+", dotted):
        raise LookupError(
            f"{dotted!r} is not a dotted path under deltalab (e.g. deltalab.nn.rope.RotaryEmbedding)"
        )
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise LookupError(f"{dotted!r} names no module, class or function of deltalab")


def check_derivation(path: str | Path, claim_ids: list[str] | None = None) -> Derivation:
    """Parse and render a derivation file strictly; ``DerivationError`` (``file:line: what``) if it is bad.

    Checked: the file is named after a registered claim (when ``claim_ids`` is given); the optional
    first line is ``<!-- code: dotted.path, ... -->`` and every path exists; the H2 headings are
    among ``SECTIONS``, in that order, the first two present; no text before the first heading;
    every ``$…$`` / ``$$…$$`` converts to MathML; no ``$`` or LaTeX command is left in the text.
    """
    path = Path(path)
    if claim_ids is not None and path.stem not in claim_ids:
        import difflib

        close = difflib.get_close_matches(path.stem, claim_ids, n=1)
        hint = f" (did you mean {close[0]}.md?)" if close else ""
        raise _fail(path, 1, f"no claim {path.stem!r} is registered{hint}; name the file <claim-id>.md")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise _fail(path, 1, f"not UTF-8 ({e})") from e
    d = Derivation(path, source=text)
    lines = text.split("\n")
    if lines and lines[0].lstrip().startswith("<!--"):
        m = _CODE_LINE.fullmatch(lines[0])
        if not m:
            raise _fail(path, 1, "the first-line comment must read <!-- code: dotted.path, ... -->")
        d.code = [s.strip() for s in m.group(1).split(",") if s.strip()]
        for name in d.code:
            try:
                resolve(name)
            except LookupError as e:
                raise _fail(path, 1, f"code: {e}") from None
        lines[0] = ""  # keep the line numbers of the rest
    md = _markdown()
    tokens = md.parse("\n".join(lines))
    heads = [k for k, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    first_line = tokens[heads[0]].map[0] if heads else len(lines)
    if any(t.map and t.map[0] < first_line for t in tokens[: heads[0] if heads else len(tokens)]):
        stray = next(t for t in tokens if t.map and t.map[0] < first_line)
        raise _fail(path, stray.map[0] + 1, "text before the first '## Why it holds' heading")
    names = [tokens[k + 1].content.strip() for k in heads]
    for j, (k, name) in enumerate(zip(heads, names)):
        line = tokens[k].map[0] + 1
        if name not in SECTIONS:
            raise _fail(path, line, f"unknown heading '## {name}'; the headings are {', '.join(SECTIONS)}")
        if name in names[:j]:
            raise _fail(path, line, f"'## {name}' appears twice")
    order = [SECTIONS.index(n) for n in names]
    if order != sorted(order):
        raise _fail(
            path, 1, f"headings out of order ({', '.join(names)}); the order is {', '.join(SECTIONS)}"
        )
    for name in REQUIRED:
        if name not in names:
            raise _fail(path, 1, f"missing '## {name}'")
    for j, (k, name) in enumerate(zip(heads, names)):
        end = heads[j + 1] if j + 1 < len(heads) else len(tokens)
        body = tokens[k + 3 : end]  # past heading_open, inline, heading_close
        _convert_math(path, body)
        d.sections[name] = md.renderer.render(body, md.options, {})
    return d


def _convert_math(path: Path, tokens: list[Any]) -> None:
    """Put each math token's MathML in its ``meta``; refuse ``$`` or LaTeX left in the text."""
    for t in tokens:
        line = (t.map[0] + 1) if t.map else 0
        if t.type == "math_block":
            try:
                t.meta["mathml"] = _tex_to_mathml(t.content.strip(), True)
            except ValueError as e:
                raise _fail(path, line, f"display math: {e}") from None
        for c in t.children or []:
            # the line of this piece within a paragraph that spans several lines
            here = line + t.content[: max(t.content.find(c.content), 0)].count("\n") if c.content else line
            if c.type in ("math_inline", "math_inline_double"):
                try:
                    c.meta["mathml"] = _tex_to_mathml(c.content.strip(), c.type == "math_inline_double")
                except ValueError as e:
                    raise _fail(path, here, f"math ${c.content}$: {e}") from None
            elif c.type == "text" and "$" in c.content:
                raise _fail(path, here, f"a '$' that opens no math in {c.content.strip()[:60]!r}")
            elif c.type == "text" and re.search(r"\\[A-Za-z]{2,}", c.content):
                raise _fail(path, here, f"LaTeX outside $…$ in {c.content.strip()[:60]!r}")
            elif c.type == "image":
                # the book works offline and shows the run's own figures; a derivation embeds none
                raise _fail(
                    path, here, f"an image ({c.attrs.get('src')}); derivations hold text and math only"
                )


def load_derivation(
    claim_id: str, folder: Path | None = None, warn: Callable[[str], None] | None = None
) -> Derivation | None:
    """The claim's derivation (``None`` if not written yet); a bad file warns and keeps its raw source."""
    path = (folder or DERIVATIONS) / f"{claim_id}.md"
    if not path.is_file():
        return None
    try:
        return check_derivation(path)
    except DerivationError as e:
        if warn:
            warn(f"{e} (its page shows the raw file)")
        return Derivation(path, error=str(e), source=path.read_text(encoding="utf-8", errors="replace"))
    except Exception as e:  # noqa: BLE001 - the book never breaks a run
        if warn:
            warn(f"{_show_path(path)}: {type(e).__name__}: {e} (its page shows the raw file)")
        return Derivation(path, error=str(e), source=path.read_text(encoding="utf-8", errors="replace"))


def check_all_derivations(folder: Path | None = None) -> list[str]:
    """Every problem in every derivation file present (``file:line: what``); empty when all are good."""
    ids = EXPERIMENTS.names()
    problems = []
    for path in sorted((folder or DERIVATIONS).glob("*.md")):
        try:
            check_derivation(path, ids)
        except DerivationError as e:
            problems.append(str(e))
    return problems


def _show_path(path: str | Path) -> str:
    """``src/deltalab/...`` in a source checkout, ``deltalab/...`` in an installed package."""
    path = Path(path).resolve()
    base = _PKG_ROOT.parent
    try:
        rel = path.relative_to(base)
    except ValueError:
        return str(path)
    return str(Path(base.name) / rel) if base.name == "src" else str(rel)
