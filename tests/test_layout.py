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


def test_the_import_checker_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import db.models\nfrom worker.tasks import train\nfrom . import sibling\n")
    assert _imports(probe) == {"db", "worker.tasks"}
