"""`checkpoints.build_once`: a shared folder (a test checkpoint, the dequantized Gemma cache) is built once."""

import pytest

from hf_archs.checkpoints import build_once


def test_built_once_then_reused_and_made_again_after_a_failed_build(tmp_path):
    calls = []

    def build(path):
        calls.append(path)
        path.mkdir()

    target, done = tmp_path / "model", tmp_path / "model.done"
    assert build_once(target, build, done, "note") == target and build_once(target, build, done) == target
    assert calls == [target] and done.read_text() == "note"

    def failing(path):
        raise RuntimeError("interrupted")

    other, other_done = tmp_path / "other", tmp_path / "other.done"
    with pytest.raises(RuntimeError):
        build_once(other, failing, other_done)
    assert not other_done.exists()
    build_once(other, build, other_done)
    assert calls == [target, other]
