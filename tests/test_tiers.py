"""The test tiers: a test that is slow but not marked so is reported (tests/conftest.py)."""

from types import SimpleNamespace

from tests import conftest


def test_unmarked_slow_tests_are_listed_after_the_run(monkeypatch):
    monkeypatch.setattr(conftest, "_unmarked_slow", [])
    seconds = conftest.UNMARKED_SLOW_SECONDS
    for when, duration, keywords, nodeid in [
        ("call", seconds + 1, {"test_a": 1}, "t.py::unmarked_slow"),
        ("call", seconds + 1, {"slow": 1}, "t.py::marked_slow"),
        ("call", seconds - 1, {}, "t.py::fast"),
        ("setup", seconds + 9, {}, "t.py::shared_fixture"),  # a session fixture's build is not the test's
    ]:
        conftest.pytest_runtest_logreport(
            SimpleNamespace(when=when, duration=duration, keywords=keywords, nodeid=nodeid)
        )
    lines = []
    reporter = SimpleNamespace(write_sep=lambda sep, title: lines.append(title), write_line=lines.append)
    conftest.pytest_terminal_summary(reporter)
    assert len(lines) == 2 and lines[1].endswith("t.py::unmarked_slow"), lines
