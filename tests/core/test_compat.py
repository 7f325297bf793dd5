"""Transformers releases (`core/compat.py`): the tested range is pyproject's and refused outside, and what was
renamed between supported releases is read under both names.

The main environment has one release; these tests put the other release's argument names where that release passes
them, so a reader of one name only fails here too (scripts/test_remote_code_newest.sh runs saved checkpoints on the
newest release itself).
"""

import re
from pathlib import Path

import pytest
import tomllib
import torch
from packaging.requirements import Requirement
from transformers import DynamicCache

from hf_archs.core import compat
from hf_archs.core.inputs import token_positions
from tests.conformance.generation import assert_cached_generation_matches_recompute
from tests.models.test_contract import load
from tests.zoo_cases import VOCAB, case_params


ROOT = Path(__file__).resolve().parents[2]


def test_the_tested_range_is_pyprojects():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(line) for line in pyproject["project"]["dependencies"]]
    (transformers,) = [r for r in requirements if r.name == "transformers"]
    assert transformers.specifier == compat.SpecifierSet(compat.TRANSFORMERS_REQUIREMENT)


def test_readme_names_the_tested_range():
    bounds = dict(re.findall(r"([<>]=?)(\d+\.\d+)", compat.TRANSFORMERS_REQUIREMENT))
    newest = bounds["<"].split(".")
    newest = f"{newest[0]}.{int(newest[1]) - 1}"  # "<5.26": 5.25 is the newest minor release tested
    assert f"Supported: Transformers {bounds['>=']}–{newest}" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("version", ["5.16.0", "5.26.0", "6.0.0", "5.26.0.dev0"])
def test_releases_outside_the_range_are_refused_naming_it(version, monkeypatch):
    monkeypatch.delenv(compat.ALLOW_UNTESTED_ENV, raising=False)
    with pytest.raises(ImportError, match=re.escape(f"transformers{compat.TRANSFORMERS_REQUIREMENT}")):
        compat.check_transformers_version(version)


@pytest.mark.parametrize("version", ["5.17.0", "5.23.0", "5.25.0", "5.25.3", "5.25.0.dev0"])
def test_releases_in_the_range_are_accepted(version):
    compat.check_transformers_version(version)


def test_an_untested_release_runs_with_a_warning_when_asked(monkeypatch):
    monkeypatch.setenv(compat.ALLOW_UNTESTED_ENV, "1")
    with pytest.warns(UserWarning, match="Running anyway"):
        compat.check_transformers_version("5.26.0")


def _pass_the_cache_as(name: str):
    """A forward pre-hook that hands a decoder layer its KV cache as `name`, the way the other release calls it."""
    other = next(n for n in compat.CACHE_KWARGS if n != name)

    def rename(module, args, kwargs):
        if kwargs.get(other) is not None:
            kwargs[name] = kwargs.pop(other)
        return args, kwargs

    return rename


@pytest.mark.parametrize(
    "case", case_params(lambda case: case.decodes_with_cache and case.variant.name in ("gqa_untied", "sliding"))
)
@pytest.mark.parametrize("name", compat.CACHE_KWARGS)
def test_layers_take_the_kv_cache_under_either_releases_name(case, name, converted):
    """Bug: Transformers 5.24 renamed `past_key_values` to `cache`; the attention layers read the old name only and
    decoded with an empty cache (cached logits off by ~0.5 on 5.25, no error)."""
    model = load(case, converted(case, active=True))
    for layer in model.model.layers:
        layer.register_forward_pre_hook(_pass_the_cache_as(name), with_kwargs=True, prepend=True)
    input_ids = torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :3] = 0
    kwargs = dict(max_new_tokens=4, do_sample=False, pad_token_id=0, return_dict_in_generate=True, output_logits=True)
    assert_cached_generation_matches_recompute(model, dict(input_ids=input_ids, attention_mask=attention_mask), kwargs)


@pytest.mark.parametrize("name", compat.CACHE_KWARGS)
def test_token_positions_follow_the_cache_under_either_name(name):
    cache = DynamicCache()
    cache.update(torch.zeros(1, 1, 5, 4), torch.zeros(1, 1, 5, 4), 0)
    positions = token_positions({"input_ids": torch.zeros(1, 2, dtype=torch.long), name: cache})
    assert positions.tolist() == [[5.0, 6.0]]
