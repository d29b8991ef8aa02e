"""The 80 configurations of the paper as schema-validated data, with presets (paper, small, tiny).

``get_config(18)`` or ``get_config("chaining_cnn")``; ``parse_configs("75,80,28-46")`` (the grammar of every
``--config``); ``resolve(config, preset, as_in_code, overrides)``; ``build.build_model(config, inputs, preset)``.
Data: ``singles`` (#1-#27 and Table 2 baselines), ``ensembles`` (#28-#46, #75-#80), ``cascades`` (#47-#74);
schema in ``schema``, presets in ``presets``. "The catalog" (``catalog §4.3``, ``catalog #25`` in docstrings) is
``catalog_80.md`` in this folder: the 80 configurations at code level, the paper against the authors' code.
"""

from y8m_models.configs.presets import PRESETS
from y8m_models.configs.registry import (
    BASELINES,
    CONFIGURATIONS,
    ConfigError,
    all_configurations,
    get_config,
    parse_configs,
    resolve,
    single_models,
)
from y8m_models.configs.schema import Configuration, SingleModel

__all__ = ["BASELINES", "CONFIGURATIONS", "PRESETS", "ConfigError", "Configuration", "SingleModel",
           "all_configurations", "get_config", "parse_configs", "resolve", "single_models"]
