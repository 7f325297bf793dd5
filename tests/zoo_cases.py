"""The parametrization of the contract suite: every zoo design × the random stock variants of its backbone."""

import pytest

from hf_archs.testing import CASES, STOCK_VARIANTS, VOCAB, Case, StockVariant  # noqa: F401


def case_params(predicate=lambda case: True):
    return [pytest.param(case, id=case.id) for case in CASES if predicate(case)]


def tiny_config(case: Case, active: bool = False, **overrides):
    """The config of `case` on its tiny stock config, at the identity or the active setting, with `overrides`."""
    setting = case.entry.active_setting if active else case.entry.conversion_setting
    return case.entry.backbone.design_config(case.entry.config_class, case.variant.config, **setting, **overrides)


def build_tiny(case: Case, active: bool = False, auto_class: str | None = None, **overrides):
    """A randomly initialized model of `case` built from its tiny stock config (no conversion: for checks that do not
    need the stock weights), at the identity or the active setting, with `overrides` on the config."""
    import torch

    config = tiny_config(case, active, **overrides)
    torch.manual_seed(0)
    return case.entry.model_classes[auto_class or case.variant.head_auto_class](config).eval()
