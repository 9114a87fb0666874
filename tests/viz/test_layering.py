"""Imports point down: ``erfkit.viz`` draws arrays and never imports what runs models or experiments."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VIZ = Path(__file__).resolve().parents[2] / "erfkit" / "viz"
#: the layers above (or beside) viz: what runs models, explanations, scores and experiments
FORBIDDEN = ("erfkit.experiments", "erfkit.inference", "erfkit.explain", "erfkit.evaluation", "erfkit.model",
             "erfkit.training")


def imported_modules(path: Path, package: str = "erfkit.viz") -> set[str]:
    """Every module ``path`` imports (relative imports resolved, ``from X import y`` also gives ``X.y``), anywhere."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


def _is_under(module: str, parent: str) -> bool:
    return module == parent or module.startswith(parent + ".")


def test_the_checker_resolves_relative_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from ..experiments import write_all\nfrom .. import inference\nimport erfkit.model.stm\n"
                 "def f():\n    from ..explain.cycle import cycle_erf\n")
    found = imported_modules(f)
    assert {"erfkit.experiments", "erfkit.inference", "erfkit.model.stm", "erfkit.explain.cycle"} <= found


@pytest.mark.parametrize("path", sorted(VIZ.glob("*.py")), ids=lambda p: p.name)
def test_viz_imports_nothing_from_the_layers_above(path):
    bad = sorted(m for m in imported_modules(path) if any(_is_under(m, f) for f in FORBIDDEN))
    assert not bad, f"erfkit/viz/{path.name} imports {', '.join(bad)}"


def test_paper_figures_only_draw():
    """viz/paper.py: numpy, matplotlib and the other viz modules only (no datasets, no torch)."""
    allowed = ("__future__", "typing", "numpy", "matplotlib", "erfkit.viz")
    bad = sorted(m for m in imported_modules(VIZ / "paper.py") if not any(_is_under(m, a) for a in allowed))
    assert not bad, f"erfkit/viz/paper.py imports {', '.join(bad)}"
