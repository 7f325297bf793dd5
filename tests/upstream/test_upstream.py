"""Transformers' own common model tests (`ModelTesterMixin`, `ConfigTester`) on every zoo model type and the stock
classes of each backbone.

`sources.common_tests()` brings the two test modules of the installed Transformers (from its sdist, once per
machine); `testers.TinyModelTester` holds the upstream tiny tester values. `upstream_test_class` builds one
unittest class per (model type, setting): the zoo's config class with the identity or the active setting of its
designs, `all_model_classes` = the zoo's model classes. The stock classes of each backbone run the same harness, so
a stock failure shows next to the zoo's.

Tests that cannot apply by construction are skipped with their reason, from `by_construction.BY_CONSTRUCTION` only;
every other test must pass.
"""

import unittest
from unittest import mock

import pytest
import torch
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import hf_archs  # noqa: F401  (registers the zoo)
from hf_archs.backbones.base import _TASK_MAPPINGS
from hf_archs.registry import BACKBONES, ZOO
from tests.upstream.by_construction import applicable_marks
from tests.upstream.sources import GenerationTesterMixin, common_tests
from tests.upstream.testers import TinyModelTester, backbone_values


modeling_common, configuration_common = common_tests()


def upstream_test_class(name: str, config_class: type, backbone, model_classes, settings: dict, subject) -> type:
    """A unittest class running upstream's common model and config tests on `model_classes` built from
    `config_class(**tiny values, **settings)`; `subject` (a ZooModel, or None for stock) decides the skips."""
    values, causal, config_tester_kwargs = backbone_values(backbone.name)
    tester = type(
        f"{name}Tester",
        (TinyModelTester,),
        dict(
            values=values,
            stock_config_class=CONFIG_MAPPING[backbone.stock_model_type],
            config_class=config_class,
            settings=settings,
            causal=causal,
        ),
    )

    def setUp(self):
        self.model_tester = tester(self, modeling_common)
        self.config_tester = configuration_common.ConfigTester(
            self, config_class=config_class, **config_tester_kwargs, **settings
        )

    def test_config(self):
        self.config_tester.run_common_tests()

    # Upstream tells a head from a base model by its class name in Transformers' tables (`*_MAPPING_NAMES`), as for
    # any model of the library; the zoo's classes are entered there while the class runs.
    name_tables = [
        mock.patch.dict(_TASK_MAPPINGS[auto_class], {config_class.model_type: model_class.__name__})
        for auto_class, model_class in (subject.model_classes.items() if subject else ())
    ]

    @classmethod
    def setUpClass(cls):
        for table in name_tables:
            table.start()
        # One thread: on these tiny models a second one only spins (3x the CPU time of the tier on 2 cores).
        cls._threads = torch.get_num_threads()
        torch.set_num_threads(1)

    @classmethod
    def tearDownClass(cls):
        torch.set_num_threads(cls._threads)
        for table in name_tables:
            table.stop()

    bases = [modeling_common.ModelTesterMixin]
    if any(model_class.can_generate() for model_class in model_classes):
        bases.append(GenerationTesterMixin)
    cls = type(
        name,
        (*bases, unittest.TestCase),
        dict(
            all_model_classes=tuple(model_classes),
            setUp=setUp,
            setUpClass=setUpClass,
            tearDownClass=tearDownClass,
            test_config=test_config,
            # Upstream runs its weight-init completeness check only on models it dates from 2023 on, by the copyright
            # line of the config's file (ours have none, so it would be skipped as "not prioritized"): run it on
            # every zoo type; stock classes keep upstream's choice.
            test_can_init_all_missing_weights_before_2023=subject is not None,
            __module__=__name__,
            __qualname__=name,
        ),
    )
    config = tester(None, modeling_common).get_config()
    for test_name in [attr for attr in dir(cls) if attr.startswith("test_")]:
        marked = getattr(cls, test_name)
        for mark in applicable_marks(test_name, subject, config):
            marked = mark(marked)
        setattr(cls, test_name, marked)
    return cls


def _class_name(model_type: str, setting: str) -> str:
    return "Test" + "".join(part.title() for part in model_type.split("_")) + setting.title()


for _backbone in BACKBONES.values():
    _name = _class_name(_backbone.stock_model_type, "stock")
    globals()[_name] = upstream_test_class(
        _name,
        CONFIG_MAPPING[_backbone.stock_model_type],
        _backbone,
        list(_backbone.stock_classes.values()),
        {},
        None,
    )

for _entry in ZOO:
    for _setting, _settings in (("identity", _entry.conversion_setting), ("active", _entry.active_setting)):
        _name = _class_name(_entry.model_type, _setting)
        globals()[_name] = upstream_test_class(
            _name, _entry.config_class, _entry.backbone, list(_entry.model_classes.values()), _settings, _entry
        )

pytestmark = pytest.mark.upstream
