"""The lab book's code sections: source highlighted and linked, and the bar read from the source.

A claim page shows the experiment function and the parts its derivation names (Pygments, one
``<pre>`` per object, linked to file and line); a book built without a run still states each bar,
read from the experiment's own ``Bar(...)`` calls and ``bar="..."`` text by :func:`static_bar`.
"""

from __future__ import annotations

import ast
import functools
import html
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

from deltalab.lab.derivation import _show_path
from deltalab.lab.experiment import ExperimentSpec
from deltalab.lab.report import _fmt

# --------------------------------------------------------------------------------------------------
# Code: the experiment and the parts a derivation names, highlighted, linked to file and line


@functools.lru_cache(maxsize=512)
def _highlight(source: str, start: int) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source, PythonLexer(), HtmlFormatter(linenos="inline", linenostart=start, wrapcode=True))


def code_block(obj: Any, label: str) -> str:
    esc = html.escape
    try:
        file = inspect.getsourcefile(obj)
        lines, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return f"<p class='note'>The source of <code>{esc(label)}</code> is not available.</p>"
    start = max(start, 1)
    where = f"{_show_path(file)}:{start}"
    link = f"<a href='{esc(Path(file).resolve().as_uri())}'><code>{esc(where)}</code></a>"
    body = _highlight("".join(lines), start)
    head = f"<p class='codehead'><code>{esc(label)}</code> — {link} ({len(lines)} lines)</p>"
    if isinstance(obj, ModuleType):
        return f"{head}<details><summary>the whole module</summary>{body}</details>"
    return head + body


def dotted(obj: Any) -> str:
    if isinstance(obj, ModuleType):
        return obj.__name__
    return f"{obj.__module__}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


# --------------------------------------------------------------------------------------------------
# The bar without a run: read from the experiment's source (its Bar(...) calls and bar="...")


@functools.lru_cache(maxsize=128)
def _module_tree(file: str) -> ast.Module:
    return ast.parse(Path(file).read_text(encoding="utf-8"))


def _text_of(node: ast.expr) -> str | None:
    """A string literal's text; an f-string with its ``{expressions}`` shown; ``ctx.pick(quick=, full=)``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values
        )
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "pick":
        parts = {k.arg: _text_of(k.value) for k in node.keywords}
        if parts.get("quick"):
            return f"{parts['quick']} (quick); {parts.get('full') or '…'} (full)"
    return None


def static_bar(spec: ExperimentSpec) -> tuple[str, list[str]]:
    """(the bar in words, the bar's comparisons) as the experiment's source states them, for a book
    built without a run; empty where the source computes them."""
    try:
        file = inspect.getsourcefile(spec.fn)
        tree = _module_tree(file)  # type: ignore[arg-type]
    except (OSError, TypeError, SyntaxError):
        return "", []
    fn = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == spec.fn.__name__),
        None,
    )
    if fn is None:
        return "", []
    words, checks = "", []
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name == "Bar" and len(node.args) == 3 and all(isinstance(a, ast.Constant) for a in node.args):
            m, op, v = (a.value for a in node.args)  # type: ignore[attr-defined]
            checks.append(f"{m} {op} {_fmt(v)}")
        for k in node.keywords:
            if k.arg == "bar" and not words:
                words = _text_of(k.value) or ""
    return words, checks
