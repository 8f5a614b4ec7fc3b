"""The package layout of docs/architecture.md, enforced: imports only go down the floors below, and
only `kafka/` imports kafka-python. A new import that breaks this fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "finsent"

# Lower floors are imported by higher ones, never the other way. Packages on one floor do not import
# each other.
FLOORS = {
    "contracts": 0,
    "kafka": 1,
    "locks": 1,
    "inference": 1,
    "topics": 1,
    "observability": 1,
    "triton": 1,
    "alerts": 2,
    "scoring": 2,
    "training": 2,
    "shipped": 2,
    "aggregate": 3,
    "demo": 3,
    "retrain": 3,
    "settings": 4,
    "app": 5,
    "cli": 6,
}


def imports() -> list[tuple[str, str, str]]:
    """(file, its package, imported module) for every import in the package, lazy ones included."""
    out = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        package = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append((rel.as_posix(), package, node.module))
            elif isinstance(node, ast.Import):
                out += [(rel.as_posix(), package, alias.name) for alias in node.names]
    return out


def test_every_package_has_a_floor():
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    found |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert found == set(FLOORS)


def test_imports_only_go_down():
    wrong = []
    for file, package, module in imports():
        parts = module.split(".")
        if parts[0] != "finsent" or len(parts) < 2 or parts[1] == package or parts[1] == "__version__":
            continue
        if FLOORS[parts[1]] >= FLOORS[package]:
            wrong.append(f"{file} imports {module}")
    assert wrong == []


def test_the_command_line_reaches_only_app_settings_and_contracts():
    """A command parses its flags and calls one function in app/: it never reaches past app/ into
    the packages that do the work (training, retrain, kafka, ...)."""
    allowed = {"app", "cli", "settings", "contracts", "__version__"}
    wrong = [
        f"{file} imports {module}"
        for file, package, module in imports()
        if package == "cli" and module.startswith("finsent.") and module.split(".")[1] not in allowed
    ]
    assert wrong == []


def test_only_the_kafka_package_imports_kafka_python():
    users = {file for file, _, module in imports() if module == "kafka" or module.startswith("kafka.")}
    assert users and all(f.startswith("kafka/") for f in users), sorted(users)


def test_each_package_names_its_public_surface():
    """Every package's `__init__` has an `__all__` naming each of its public modules (or, for a
    package without submodules, what it defines), and every name in it exists."""
    import importlib

    for init in sorted(PACKAGE.glob("*/__init__.py")):
        package = init.parent
        module = importlib.import_module(f"finsent.{package.name}")
        assert module.__doc__, package.name
        names = getattr(module, "__all__", None)
        assert names is not None, f"{package.name}/__init__.py has no __all__"
        public = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
        assert public <= set(names), f"{package.name}: {sorted(public - set(names))} not in __all__"
        for name in set(names) - public:  # not a module: defined in the __init__ itself
            assert hasattr(module, name), f"{package.name}.__all__ names {name}, which it lacks"
