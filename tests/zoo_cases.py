"""The parametrization of the contract suite: every zoo design × the random stock variants of its backbone."""

import pytest

from hf_archs.testing import CASES, STOCK_VARIANTS, VOCAB, Case, StockVariant  # noqa: F401


def case_params(predicate=lambda case: True):
    return [pytest.param(case, id=case.id) for case in CASES if predicate(case)]
