"""The architectures as data (``y8m_models.architectures``) and the builders registered under their names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from y8m_models.architectures import ARCHITECTURES, architecture
from y8m_models.models import BUILDERS
from y8m_models.models.base import register


def test_every_declared_architecture_has_one_builder_in_its_family() -> None:
    assert set(BUILDERS) == set(ARCHITECTURES)
    assert {name: BUILDERS[name].__module__ for name in BUILDERS} == \
        {name: f"y8m_models.models.{a.family}" for name, a in ARCHITECTURES.items()}


def test_register_refuses_an_undeclared_name_and_another_familys_architecture() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'lstn'; did you mean lstm"):
        register("lstn")

    def _build(params, inputs):  # defined here: its module is this test's, not a family's
        raise AssertionError

    with pytest.raises(ValueError, match="'lstm' belongs to the lstm family, not test_architectures"):
        register("lstm")(_build)
    assert architecture("lstm").params.__name__ == "LSTMParams"


def test_the_configurations_load_and_resolve_without_torch() -> None:
    code = ("import sys\nimport y8m_models.configs, y8m_models.pipeline, worker.runs\n"
            "from y8m_models.configs import all_configurations, resolve\n"
            "for c in all_configurations():\n    resolve(c, 'tiny')\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False"]
