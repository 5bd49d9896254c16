"""tools/bug_classes.py puts known bugs back into a copy of the source; each entry names the line
as it is written today. A refactor that moves such a line must update the entry, or the seeded bug
silently stops being tried: this test fails first."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bugs():
    spec = importlib.util.spec_from_file_location("bug_classes", ROOT / "tools" / "bug_classes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BUGS


def test_every_seeded_bug_still_names_a_line_of_the_source():
    bugs = _bugs()
    assert len(bugs) >= 19
    stale = [name for name, rel, good, bad, tests in bugs if (ROOT / rel).read_text().count(good) != 1]
    assert not stale, f"tools/bug_classes.py entries whose source line moved: {stale}"
    missing = [tests for *_, tests in bugs if not (ROOT / tests).exists()]
    assert not missing, missing
