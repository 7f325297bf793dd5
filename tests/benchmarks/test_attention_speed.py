"""benchmarks/attention_speed.py runs on the CPU (`--tiny`): one row per requested design, variant, pass and cache,
each with its numbers or its error, and the table and figure re-render from the file."""

import json
import math

import pytest

from benchmarks import attention_speed


VARIANTS = {
    ("positional", "alibi", "sdpa"),
    ("positional", "alibi", "positional_triton"),
    ("oscillating", "backward", "sdpa"),
    ("oscillating", "backward", "flex_attention"),
    ("semantic", "active", "sdpa"),
    ("semantic", "active", "semantic_triton"),
}
PASSES = {("fwd_bwd", None), ("kv_cache", None), ("train", None)}
PASSES |= {("decode_b1", cache) for cache in ("dynamic", "static", "static_compiled")}
META = ("device", "dtype", "torch", "transformers", "commit")
COLUMNS = {"design", "variant", "attn_implementation", "shape", "L", "batch", "pass", "cache", "ratio_of", "error"}
COLUMNS |= {"ratio_vs_stock", "ms", "stock_ms", "peak_mib", "stock_peak_mib", *META}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("attention_speed")
    argv = ["--tiny", "--shapes", "gemma270m", "--passes", "fwd_bwd,kv_cache,decode_b1,train", "--repeats", "1"]
    argv += ["--warmup", "0", "--decode-tokens", "3", "--out", str(out)]
    argv += ["--only", "positional:alibi,oscillating:backward,semantic"]
    path = attention_speed.main(argv)
    return path, json.loads(path.read_text())["rows"]


@pytest.mark.slow
def test_every_requested_row_is_measured_or_has_its_error(result):
    path, rows = result
    keys = [(r["design"], r["variant"], r["attn_implementation"], r["pass"], r["cache"]) for r in rows]
    assert sorted(keys) == sorted((*v, *p) for v in VARIANTS for p in PASSES)
    for row in rows:
        assert (row["shape"], row["L"]) == ("gemma270m", 64)
        assert COLUMNS <= set(row) and all(row[k] for k in META), row
        if row.get("error"):
            continue
        assert row["ratio_of"] == ("bytes" if row["pass"] == "kv_cache" else "time")
        if row["pass"] == "kv_cache":
            assert row["kv_bytes_per_token"] > 0 and row["stock_kv_bytes_per_token"] > 0
            assert row["ratio_vs_stock"] == pytest.approx(row["kv_bytes_per_token"] / row["stock_kv_bytes_per_token"])
            continue
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("ms", "stock_ms")), row
        assert row["ratio_vs_stock"] == pytest.approx(row["ms"] / row["stock_ms"])
        assert row["peak_mib"] is row["stock_peak_mib"] is None  # CUDA only
        if row["pass"] in ("train", "decode_b1"):
            assert row["tokens_per_s"] / row["stock_tokens_per_s"] == pytest.approx(1 / row["ratio_vs_stock"])


@pytest.mark.slow
def test_failures_are_rows_and_the_rest_runs(result):
    _, rows = result
    errors = {
        (r["design"], r["variant"], r["attn_implementation"], r["pass"], r["cache"]): r.get("error") for r in rows
    }
    expected = {}
    # A backward (anti-causal) layer cannot decode with a cache: the refusal is the row, the other passes ran.
    for cache in ("dynamic", "static"):
        expected[("oscillating", "backward", "sdpa", "decode_b1", cache)] = "ValueError: OscillatingGemma3ForCausalLM"
    # On the CPU the fused kernel and the compiled decoding step are not measured, and their rows say so.
    for key in errors:
        if key[2] not in ("sdpa", "eager") or key[4] == "static_compiled":
            expected[key] = "skipped: "
    # Every other row has its numbers and no error.
    got = {key: error[: len(expected[key])] if key in expected and error else error for key, error in errors.items()}
    assert got == {key: expected.get(key) for key in errors}
    assert "cannot decode" in errors[("oscillating", "backward", "sdpa", "decode_b1", "dynamic")]


@pytest.mark.slow
def test_render_and_resume(result, capsys):
    path, rows = result
    path.with_suffix(".txt").unlink()
    attention_speed.main(["--render", str(path)])
    table = path.with_suffix(".txt").read_text().splitlines()
    assert len(table) == 3 + len(rows)  # title, run line, header, one line per row
    assert path.with_suffix(".png").stat().st_size > 0
    # --resume measures only what is missing or failed: the measured rows stay as they are.
    out = path.parent
    attention_speed.main(
        [
            "--tiny",
            "--shapes",
            "gemma270m",
            "--passes",
            "kv_cache",
            "--only",
            "positional:alibi",
            "--resume",
            "--out",
            str(out),
        ]
    )
    assert json.loads(path.read_text())["rows"] == rows


def test_budget_stops_before_any_row(tmp_path, capsys):
    path = attention_speed.main(
        [
            "--tiny",
            "--shapes",
            "minilm",
            "--passes",
            "fwd",
            "--only",
            "positional",
            "--max-seconds",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    assert json.loads(path.read_text())["rows"] == []
    # alibi, t5, relative and nope, each under sdpa and positional_triton
    assert "8 rows not run" in capsys.readouterr().out


def test_process_wide_settings_are_put_back(tmp_path):
    """Bug: main() left Transformers' logging at "error" and torch at one thread for the rest of the test session (the
    upstream tests that read a loading warning then failed, and every later test ran on one thread)."""
    import torch
    import transformers

    verbosity, threads = transformers.logging.get_verbosity(), torch.get_num_threads()
    attention_speed.main(["--tiny", "--max-seconds", "0", "--out", str(tmp_path)])
    assert (transformers.logging.get_verbosity(), torch.get_num_threads()) == (verbosity, threads)
