"""The suite's own rules: in CI a missing optional dependency fails instead of skipping."""

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

MISSING_AT_MODULE_LEVEL = """
import pytest
pytest.importorskip("nnzero_no_such_module")

def test_never_collected():
    pass
"""

MISSING_IN_A_TEST = """
import pytest

def test_needs_it():
    pytest.importorskip("nnzero_no_such_module")

def test_skips_for_another_reason():
    pytest.skip("not on this platform")
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_module_level=MISSING_AT_MODULE_LEVEL, test_in_test=MISSING_IN_A_TEST)
    return pytester


def test_in_ci_a_missing_dependency_fails(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "-p", "no:xdist", "--continue-on-collection-errors")
    result.assert_outcomes(failed=1, errors=1, skipped=1)     # the other skip stays a skip
    result.stdout.fnmatch_lines(["*CI is set and a dependency is missing*nnzero_no_such_module*"])


def test_outside_ci_a_missing_dependency_skips(suite, monkeypatch):
    monkeypatch.setenv("CI", "false")
    result = suite.runpytest("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(skipped=3)


def test_no_test_file_imports_another():
    # Shared helpers are fixtures in conftest.py; importing test_x from test_y runs test_x's
    # module code twice under xdist and hides the dependency.
    import ast

    here = Path(__file__).parent
    test_modules = {p.stem for p in here.glob("test_*.py")} | {"conftest"}
    for path in sorted(here.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if n.split(".")[0] in test_modules]
            assert not bad, f"{path.name} imports {bad}: make it a fixture in conftest.py"
