import pytest

from tests.upstream import sources


def test_missing_sdist_fails_naming_the_command(tmp_path, monkeypatch):
    """Without the source distribution the tier must fail with the command that failed, not skip its tests."""
    monkeypatch.setenv("HF_ARCHS_CACHE", str(tmp_path))
    with pytest.raises(sources.UpstreamTestsUnavailable, match=r"pip download .*transformers==0\.0\.0"):
        sources.tests_dir("0.0.0")
    assert not (tmp_path / "transformers-tests-0.0.0").exists()
