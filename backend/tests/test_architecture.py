"""The package's layers hold (backend/.importlinter, checked by import-linter's lint-imports):
a lower layer never imports a higher one, no two modules import each other in a cycle, and no
module hides an import inside a function to get around either rule."""
import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

BACKEND = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = BACKEND / "taleweaver"
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")


def lint_imports(backend_dir: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=backend_dir, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def package_copy(tmp_path):
    """A copy of the package and its contract, to break on purpose."""
    shutil.copytree(PACKAGE, tmp_path / "taleweaver", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(BACKEND / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def add_import(module: pathlib.Path, line: str) -> None:
    text = module.read_text()
    head, _, rest = text.partition("from __future__ import annotations\n")
    module.write_text(head + "from __future__ import annotations\n" + line + "\n" + rest)


def test_the_package_keeps_its_layers_and_has_no_import_cycle():
    result = lint_imports(BACKEND)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_storage_importing_the_web_layer_breaks_the_layers_contract(package_copy):
    add_import(package_copy / "taleweaver" / "storage" / "dialect.py", "from taleweaver.web import auth")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "taleweaver.storage is not allowed to import taleweaver.web" in result.stdout
    assert "taleweaver.storage.dialect -> taleweaver.web.auth" in result.stdout


def test_two_sibling_modules_importing_each_other_break_the_no_cycle_contract(package_copy):
    # reasoning is imported by openai_wire; importing it back makes a cycle inside one layer,
    # which the layers contract alone would not see.
    add_import(package_copy / "taleweaver" / "llm" / "reasoning.py", "from taleweaver.llm import openai_wire")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "No cycles are allowed in taleweaver.llm" in result.stdout


def test_stories_and_settings_are_independent_siblings(package_copy):
    add_import(package_copy / "taleweaver" / "stories" / "prompting.py", "from taleweaver.settings import store")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "taleweaver.stories is not allowed to import taleweaver.settings" in result.stdout


def imports_inside_functions(root: pathlib.Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top_level:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_imports_inside_a_function():
    assert imports_inside_functions(PACKAGE) == []


def test_an_import_inside_a_function_is_found(package_copy):
    module = package_copy / "taleweaver" / "llm" / "reasoning.py"
    module.write_text(module.read_text() + "\n\ndef late():\n    import json\n    return json\n")
    assert imports_inside_functions(package_copy / "taleweaver") == [
        f"taleweaver/llm/reasoning.py:{len(module.read_text().splitlines()) - 1}: import json"
    ]


LIMITS = {"module": 400, "class": 200, "function": 60}


def rooms_over_their_size(root: pathlib.Path) -> list[str]:
    """Modules, classes and functions longer than a reader can hold in mind (LIMITS, in lines)."""
    found = []
    for path in sorted(p for p in root.rglob("*.py") if p.is_file()):
        source = path.read_text()
        where = path.relative_to(root.parent)
        if len(source.splitlines()) > LIMITS["module"]:
            found.append(f"module {where}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            kind = {ast.ClassDef: "class", ast.FunctionDef: "function", ast.AsyncFunctionDef: "function"}.get(type(node))
            if kind and node.end_lineno - node.lineno + 1 > LIMITS[kind]:
                found.append(f"{kind} {where}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    return found


def test_no_module_class_or_function_is_over_its_size():
    assert rooms_over_their_size(PACKAGE) == []


def test_a_function_over_sixty_lines_is_found(package_copy):
    module = package_copy / "taleweaver" / "llm" / "reasoning.py"
    module.write_text(module.read_text() + "\n\ndef long():\n" + "    x = 1\n" * 60 + "    return x\n")
    assert rooms_over_their_size(package_copy / "taleweaver") == ["function taleweaver/llm/reasoning.py:long: 62 lines"]
