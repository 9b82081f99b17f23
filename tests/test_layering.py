"""The layering table of DESIGN.md, enforced on every import statement in src/deltalab.

cli → lab → experiments → {train, models, nn, optim, rl, prune, theory, eval, analysis, data};
bench sits beside experiments. Lower layers never import lab, experiments, bench or cli;
experiments never import each other. Imports inside functions count too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deltalab"
LOWER = {"nn", "optim", "models", "data", "train", "rl", "prune", "theory", "eval", "analysis"}
NEUTRAL = {"registry", "files"}  # top-level modules every layer may use
UPPER = {"lab", "experiments", "bench", "cli"}
# what each layer may not import (beyond the rule that experiments don't import each other)
FORBIDDEN = {
    **{layer: UPPER for layer in LOWER | NEUTRAL},
    "experiments": {"cli", "bench"},
    "bench": {"cli", "experiments"},
    "lab": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of a deltalab module in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out += [(node.lineno, f"{base}.{a.name}" if base == "deltalab" else base) for a in node.names]
    return [(line, name) for line, name in out if name == "deltalab" or name.startswith("deltalab.")]


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        me = _module_name(path)
        layer = _layer(me)
        for line, target in _imports(path):
            where = f"{path.relative_to(SRC.parent)}:{line} imports {target}"
            if _layer(target) in FORBIDDEN.get(layer, set()):
                found.append(where)
            elif (
                layer == "experiments"
                and _layer(target) == "experiments"
                and target != "deltalab.experiments"
                and target.split(".")[:3] != me.split(".")[:3]
            ):
                found.append(where + " (experiments do not import each other)")
    return sorted(set(found))


def test_layering_table_holds():
    assert violations() == []


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    # a lower-layer module that imports the lab, inside a function, is caught
    bad = tmp_path / "deltalab" / "nn" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from deltalab.lab.runner import run\n")
    (tmp_path / "deltalab" / "experiments").mkdir()
    (tmp_path / "deltalab" / "experiments" / "a.py").write_text("from deltalab.experiments.b import x\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path / "deltalab")
    found = violations()
    assert any("nn/bad.py:2 imports deltalab.lab.runner" in v for v in found)
    assert any("experiments/a.py:1" in v and "each other" in v for v in found)


@pytest.mark.parametrize("module", ["deltalab.optim", "deltalab.nn", "deltalab.models", "deltalab.train"])
def test_lower_layers_do_not_load_the_lab(module):
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['deltalab', 'lab'], ['deltalab', 'experiments'], ['deltalab', 'bench'], ['deltalab', 'cli'])); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
