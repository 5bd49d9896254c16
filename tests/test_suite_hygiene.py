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
