"""The layout shows the architecture: dependencies run one way (STYLE.md habit 1)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_package_imports_no_app_db_or_worker() -> None:
    offenders = {}
    for path in (ROOT / "y8m_models").rglob("*.py"):
        bad = {n for n in _imports(path) if n.split(".")[0] in ("app", "db", "worker")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders


def _offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        bad = {n for n in _imports(path) if n.split(".")[0] in forbidden}
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_db_imports_neither_the_models_nor_the_workers_nor_the_app() -> None:
    # the dashboard reads the database without torch
    assert not _offenders("db", ("y8m_models", "worker", "app", "torch"))


def test_workers_never_import_the_app() -> None:
    assert not _offenders("worker", ("app",))


def test_the_app_never_imports_torch() -> None:
    # a thin view: it trains nothing and never touches CUDA (STYLE.md habit 16)
    assert not _offenders("app", ("torch",))


def test_layers_never_import_models() -> None:
    layers = ROOT / "y8m_models" / "layers"
    offenders = {str(p.relative_to(ROOT)) for p in layers.rglob("*.py")
                 if any(n.startswith("y8m_models.models") for n in _imports(p))}
    assert not offenders


def test_the_ensemble_math_knows_no_runs_or_jobs() -> None:
    # weights, stacking and merging are arrays in, arrays out; running jobs is y8m_models.executor's
    above = ("y8m_models.experiment", "y8m_models.executor", "y8m_models.pipeline", "y8m_models.cli")
    assert not {str(p.relative_to(ROOT)): bad for p in (ROOT / "y8m_models" / "ensemble").rglob("*.py")
                if (bad := {n for n in _imports(p) if n.startswith(above)})}


def test_the_import_checker_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import db.models\nfrom worker.tasks import train\nfrom . import sibling\n")
    assert _imports(probe) == {"db", "worker.tasks"}


PACKAGES = ("y8m_models", "worker", "app", "db")


def _module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of PACKAGES it imports, anywhere in it (function-local imports included).
    ``from package import name`` depends on the module ``package.name`` where there is one, else on
    ``package`` (its ``__init__``)."""
    files = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else known(base) for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t and t != name and t.split(".")[0] in PACKAGES)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others() -> None:
    """No import circles between the project's modules (function-local imports count: they only hide one)."""
    assert _circles(_module_graph(ROOT)) == []


def test_the_circle_finder_finds_circles(tmp_path: Path) -> None:
    for name, text in {"worker/__init__.py": "", "worker/a.py": "def f():\n    from worker import b\n",
                       "worker/b.py": "from worker.c import x\n", "worker/c.py": "import worker.a\n",
                       "worker/d.py": "from . import a\n", "db/__init__.py": "from db import e\n",
                       "db/e.py": "from db import f\n", "db/f.py": "", "app/__init__.py": "",
                       "y8m_models/__init__.py": ""}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = _module_graph(tmp_path)
    assert graph["worker.d"] == {"worker.a"} and graph["db"] == {"db.e"}
    assert _circles(graph) == [["worker.a", "worker.b", "worker.c"]]
