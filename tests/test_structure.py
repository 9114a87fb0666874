"""The package's structure: every import points down, no cycle, the page imports no torch, no CLI flag below the CLI.

Layers, bottom to top (a module may import its own layer and those below)::

    errors, files, device, tensors  ->  data  ->  model  ->  inference, evaluation
    ->  training, explain  ->  viz  ->  experiments  ->  cli, dashboard
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "erfkit"
LAYERS = {"errors": 0, "files": 0, "device": 0, "tensors": 0, "data": 1, "model": 2, "inference": 3,
          "evaluation": 3, "training": 4, "explain": 4, "viz": 5, "experiments": 6, "cli": 7, "dashboard": 7,
          "__main__": 8}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool = False) -> list[tuple[str, int]]:
    """``(absolute module name, line)`` of every erfkit import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("erfkit"):
                out.append((name, node.lineno))
                out += [(f"{name}.{a.name}", node.lineno) for a in node.names]  # submodules imported by name
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("erfkit")]
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else 0  # erfkit itself: __version__ and lazy names only


SOURCES = sorted(PKG.rglob("*.py"))


def test_every_import_points_down():
    bad = []
    for path in SOURCES:
        own = _layer(_module(path))
        for name, line in _imports(path):
            target = _layer(name)
            if target is not None and own is not None and target > own:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "imports running up:\n" + "\n".join(bad)


@pytest.mark.parametrize("top_level_only", [True, False], ids=["at-import", "lazy-and-typing-too"])
def test_no_circular_import(top_level_only):
    """No cycle among imports run at import time, nor once imports inside functions and
    ``if TYPE_CHECKING:`` blocks count too: every import points down, inside a folder as well."""
    modules = {_module(p): p for p in SOURCES}
    graph = {m: {n for n, _ in _imports(p, top_level_only=top_level_only) if n in modules and n != m}
             for m, p in modules.items()}
    # a package's __init__ importing its own submodules is how packages work; a submodule importing its
    # own package back is the cycle we look for
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                if not all(a == b or b.startswith(a + ".") for a, b in zip(cycle, cycle[1:])):
                    raise AssertionError("circular import: " + " -> ".join(cycle))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("page", [ROOT / "dashboards" / "app.py", PKG / "dashboard" / "app.py"],
                         ids=["dashboards/app.py", "erfkit/dashboard/app.py"])
def test_the_dashboard_page_imports_no_torch_and_no_computing(page):
    tree = ast.parse(page.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in ("torch", "captum", "numpy")], names
    erfkit = [n for n in names if n.startswith("erfkit")]
    assert set(erfkit) <= {"erfkit.dashboard", "erfkit.errors"}, erfkit


def test_dashboards_folder_imports_no_torch():
    for path in (ROOT / "dashboards").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torch", path.read_text(encoding="utf-8"), re.M), path


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def test_no_library_module_quotes_a_cli_flag():
    """Library errors name parameters (ErfkitError.option); only erfkit/cli knows the flags."""
    bad = []
    for path in SOURCES:
        if "cli" in path.relative_to(PKG).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                    and FLAG.search(node.value):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {FLAG.findall(node.value)}")
    assert not bad, "\n".join(bad)


def test_the_cli_adds_its_flag_to_a_library_error(capsys, tmp_path):
    from erfkit.cli import OPTION_FLAGS, main
    from erfkit.inference import GCConfig

    with pytest.raises(Exception) as e:
        GCConfig(iters=-1)
    assert "--" not in str(e.value) and e.value.option == "gc.iters"
    assert main(["synth", str(tmp_path), "--preset", "tiny"]) == 0
    assert main(["synth", str(tmp_path), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"(see {OPTION_FLAGS['force']})"), err


def test_videos_are_segmented_through_propagate():
    """No module outside the predictor drives VideoPredictor.step frame by frame: they use propagate."""
    callers = []
    for path in SOURCES:
        if path == PKG / "inference" / "predictor.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step" \
                    and "optim" not in ast.unparse(node.func.value) and "sched" not in ast.unparse(node.func.value):
                callers.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not callers, "\n".join(callers)
    users = {p.relative_to(PKG).as_posix() for p in SOURCES if ".propagate(" in p.read_text(encoding="utf-8")}
    assert {"inference/runner.py", "training/trainer.py", "experiments/runs.py", "experiments/figures.py",
            "explain/atlas/build.py"} <= users, users


def test_explainers_and_inference_never_ask_the_model_family():
    """explain/ and inference/ talk to a network through MemoryModel: no ``isinstance(model, STM)`` branch.

    A family's own predictor (it names itself as the model's ``propagator``) may check that it got its
    family; nothing else may test for a network class.
    """
    from erfkit.model.memory_model import MemoryModel

    families = {c.__name__ for c in _subclasses(MemoryModel)}
    assert {"STM", "XMem"} <= families, families
    own_predictors = {PKG / "inference" / "xmem_predictor.py"}
    branches = []
    for path in SOURCES:
        if path.relative_to(PKG).parts[0] not in ("explain", "inference") or path in own_predictors:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2:
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                named |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if named & families:
                    branches.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not branches, "\n".join(branches)


def _subclasses(cls: type) -> list[type]:
    import erfkit.model  # noqa: F401  (registers the families)

    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out
