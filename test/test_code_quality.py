"""One linter (ruff) over everything, mypy --strict over the Python packages, and the shape the
design promises: the lab is its own package, imported by nobody in the product; package
docstrings name only modules that exist; one error table with unique exit codes."""
import ast
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from overlay_testing import REPO, skip_or_fail

PRODUCT = ("overlay_bringup", "overlay_monitor")
LAB = REPO / "overlay_lab" / "overlay_lab"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(REPO / ".venv" / "bin"))
    if found is None:
        skip_or_fail(f"{name} is not installed (pip install -r requirements-test.txt)")
    return str(found)


def test_ruff_finds_nothing():
    paths = [p for p in (*PRODUCT, "overlay_lab", "test", "launch", "bench", "tools", "setup.py")
             if (REPO / p).exists()]
    result = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", *paths],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", *PRODUCT, "overlay_lab/overlay_lab"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_product_never_imports_the_lab_and_holds_no_lab():
    for package in PRODUCT:
        for path in (REPO / package).rglob("*.py"):
            assert "lab" not in path.relative_to(REPO).parts[1:-1], path
            lab = {name for name in _imports(path) if name.split(".")[0] == "overlay_lab"}
            assert not lab, f"{path} imports {lab}"


def test_the_lab_has_no_any_in_its_signatures():
    for path in LAB.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                annotations = [a.annotation for a in (*node.args.args, *node.args.kwonlyargs)
                               if a.annotation is not None] + [node.returns]
                text = " ".join(ast.unparse(a) for a in annotations if a is not None)
                assert not re.search(r"\bAny\b", text), f"{path}:{node.lineno} {node.name}: {text}"


def test_the_lab_compares_no_overlay_names_as_strings():
    for path in LAB.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"overlay\s*[!=]=\s*[\"']", text), path


PACKAGES = ("overlay_bringup", "overlay_monitor", "overlay_lab")


def _docstring_names(package: Path) -> set[str]:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    return set(re.findall(r"``([a-z_][a-z0-9_.]*)``", doc))


def _modules(package: Path) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found - {""}


@pytest.mark.parametrize("package", [REPO / "overlay_bringup", REPO / "overlay_monitor", LAB],
                         ids=lambda p: p.name)
def test_a_package_docstring_names_only_modules_that_exist(package):
    """``overlay_monitor.nodes`` in overlay_monitor's docstring must be a module of it; the
    lab's docstring names its modules bare (``proc``) and must name every one."""
    named, modules = _docstring_names(package), _modules(package)
    own = f"{package.name}."
    for name in named:
        if name.startswith(own):
            assert name[len(own):] in modules, f"{package.name}'s docstring names {name}"
        elif package == LAB and name not in PACKAGES:
            assert name in modules, f"overlay_lab's docstring names {name}: no such module"
    if package == LAB:
        assert modules <= named, f"overlay_lab's docstring does not name {sorted(modules - named)}"


def test_every_error_class_reads_its_code_from_the_one_table():
    errors = importlib.import_module("overlay_monitor.errors")
    codes = list(errors.EXIT_CODES)
    assert len(codes) == len(set(codes))
    names = [name for name, _ in errors.EXIT_CODES.values()]
    assert len(names) == len(set(names))
    for code, (name, meaning) in errors.EXIT_CODES.items():
        cls = getattr(errors, name)
        assert issubclass(cls, errors.OverlayError) and cls.exit_code == code, name
        assert meaning
    # nothing outside the table defines an exit code of its own
    for package in (*PRODUCT, "overlay_lab"):
        for path in (REPO / package).rglob("*.py"):
            if path.name != "errors.py":
                assert not re.search(r"^\s+exit_code\s*=", path.read_text(), re.M), path
