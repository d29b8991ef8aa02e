"""The registry of the 80 configurations against the catalog's own table (configs/catalog_80.md §5), and the
rules of resolving: code values, overrides, presets."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from y8m_models.architectures import architecture
from y8m_models.configs import CONFIGURATIONS, ConfigError, get_config, resolve, single_models
from y8m_models.configs.presets import PRESETS
from y8m_models.configs.registry import in_paper


def _catalog_table() -> dict[int, tuple[str, float | None, float | None]]:
    """number -> (slug, validate2 GAP, private LB GAP) from the catalog's mapping table."""
    text = (ROOT / "y8m_models" / "configs" / "catalog_80.md").read_text(encoding="utf-8")
    rows: dict[int, tuple[str, float | None, float | None]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not re.match(r"^\d+(–\d+)?$", cells[0]):
            continue
        gap_cell = cells[4]
        lb = re.search(r"LB (0\.\d+)", gap_cell)
        if "–" in cells[0]:  # 66–70: videochain_1 … videochain_5, gaps "a / b / c / d / e"
            first, last = map(int, cells[0].split("–"))
            gaps = [float(g) for g in re.findall(r"0\.\d+", gap_cell)]
            for i, number in enumerate(range(first, last + 1)):
                rows[number] = (f"videochain_{i + 1}", gaps[i], None)
            continue
        gap = re.match(r"^(0\.\d+)", gap_cell)
        rows[int(cells[0])] = (cells[1].split()[0], float(gap.group(1)) if gap else None,
                               float(lb.group(1)) if lb else None)
    return rows


def test_numbers_slugs_and_gaps_are_the_catalogs() -> None:
    table = _catalog_table()
    assert sorted(table) == list(range(1, 81))
    for config in CONFIGURATIONS[:80]:
        slug, gap, lb = table[config.number]
        assert (config.slug, config.paper_gap, config.paper_private_gap) == (slug, gap, lb), config.number


def test_lookup_by_number_slug_and_hash() -> None:
    assert get_config(18) is get_config("#18") is get_config("chaining_cnn")
    with pytest.raises(ConfigError, match="chaining_cnn"):
        get_config("chaining_cn")
    with pytest.raises(ConfigError, match="1 to 88"):
        get_config(89)
    assert get_config(81).section == "B" and in_paper(80) and not in_paper(81) and not in_paper(None)


def test_references_point_backwards_or_to_the_teachers() -> None:
    """Members, teachers and cascade streams name existing configurations, and the dependency graph has no
    cycle (so the Ensembles issue can order the runs)."""
    needs: dict[int, set[int]] = {}
    for config in CONFIGURATIONS:
        refs: set[int] = set()
        for _, model in single_models(config):
            if model.distillation:
                refs.add(model.distillation.teacher)
            if model.cascade:
                refs.update(model.cascade.streams)
                refs.update([model.cascade.infrequent_from] if model.cascade.infrequent_from else [])
        if config.ensemble is not None:
            ens = config.ensemble
            refs.update(m for m in (*ens.members, ens.member) if isinstance(m, int))
            refs.update([ens.distillation.teacher] if ens.distillation else [])
        assert config.number not in refs
        needs[config.number] = refs
    done: set[int] = set()
    while len(done) < len(CONFIGURATIONS):
        ready = [n for n, refs in needs.items() if n not in done and refs <= done]
        assert ready, f"cycle among {sorted(set(needs) - done)}"
        done.update(ready)
    assert needs[47] == {2, 75} or needs[47] == {75}
    assert needs[76] == {2, 10, 18, 25, 47, 48, 49, 50}
    assert needs[79] == set(range(1, 75))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_configuration_resolves_with_and_without_code_values(preset: str) -> None:
    for config in CONFIGURATIONS:
        resolve(config, preset)
        resolve(config, preset, as_in_code=True)


def test_code_values_change_what_they_name() -> None:
    """Every [DIFF] override really differs from the paper value it replaces."""
    for config in CONFIGURATIONS:
        paper = resolve(config).model_dump()
        code = resolve(config, as_in_code=True).model_dump()
        for path in config.as_in_code:
            node_p, node_c = paper, code
            for key in path.split("."):
                node_p = node_p[int(key)] if isinstance(node_p, (list, tuple)) else node_p[key]
                node_c = node_c[int(key)] if isinstance(node_c, (list, tuple)) else node_c[key]
            assert node_p != node_c, f"{config.name}: {path} is the same in paper and code"


def test_overrides_are_checked_against_the_schema() -> None:
    assert resolve(3, overrides={"model.training.learning_rate": 0.002}).model.training.learning_rate == 0.002
    with pytest.raises(ConfigError, match=r"#3 .*model\.params: cells: Input should be greater than or equal to 1"):
        resolve(3, overrides={"model.params.cells": 0})
    with pytest.raises(ConfigError, match="colour"):
        resolve(3, overrides={"model.params.colour": "red"})
    with pytest.raises(ConfigError, match=r"model\.params: cell: .*basic"):
        resolve(3, overrides={"model.params.cell": "gru"})
    with pytest.raises(ConfigError, match="not a section"):
        resolve(3, overrides={"model.training.learning_rate.x": 1})
    with pytest.raises(ConfigError, match="architecture"):
        resolve(3, overrides={"model.architecture": "lstmm"})


def test_a_batch_size_the_user_sets_is_kept_at_every_preset() -> None:
    """The preset sets the batch size (16 at tiny); a user's own (e.g. for a DDP run) is not replaced."""
    assert resolve(3, "tiny").model.training.batch_size == 16
    assert resolve(3, "tiny", overrides={"model.training.batch_size": 48}).model.training.batch_size == 48
    stack = resolve(75, "tiny", overrides={"ensemble.combiner.training.batch_size": 40})
    assert stack.ensemble.combiner.training.batch_size == 40
    assert resolve(75, "tiny").ensemble.combiner.training.batch_size == 16


def test_presets_scale_sizes_and_keep_structure() -> None:
    paper, tiny, small = resolve(25), resolve(25, "tiny"), resolve(25, "small")
    assert (paper.model.params.cells, small.model.params.cells, tiny.model.params.cells) == (1024, 256, 32)
    assert (paper.model.params.max_frames, small.model.params.max_frames, tiny.model.params.max_frames) == (
        300, 150, 100)
    assert tiny.model.params.mixtures == 2 and small.model.params.mixtures == 8
    assert tiny.model.params.groups == paper.model.params.groups == 8  # structure stays
    assert tiny.model.training.batch_size == 16 and small.model.training.batch_size == 128
    # tiny trains frame-level models at 10x the paper's rate (presets.py); video models and a rate the user
    # set keep theirs
    assert tiny.model.training.learning_rate == 10 * paper.model.training.learning_rate
    assert small.model.training.learning_rate == paper.model.training.learning_rate
    assert resolve(2, "tiny").model.training.learning_rate == resolve(2).model.training.learning_rate
    assert resolve(25, "tiny", overrides={"model.training.learning_rate": 0.002}).model.training.learning_rate == 0.002
    # tiny trains every single model at least 5 epochs (presets.py; #10's paper count is 3), an override's
    # count too (the paper's units; a run's own count is --epochs)
    assert (resolve(10).model.training.epochs, resolve(10, "tiny").model.training.epochs) == (3.0, 5.0)
    assert resolve(10, "small").model.training.epochs == 3.0
    assert resolve(27, "tiny").model.training.epochs == resolve(27).model.training.epochs == 6.0
    assert resolve(10, "tiny", overrides={"model.training.epochs": 2}).model.training.epochs == 5.0
    assert resolve(10, "tiny", overrides={"model.training.epochs": 7}).model.training.epochs == 7.0
    assert all(m.training.epochs >= 5 for n in CONFIGURATIONS for _, m in single_models(resolve(n, "tiny")))
    assert resolve(27, "tiny").model.params.positional == 4 and resolve(25, "tiny").model.params.positional == 0
    two_parts = resolve(9, "tiny").model.params.cells
    assert two_parts == (32, 4)  # 128 / 32 = 4: the floor of a width
    # Inline ensemble members and cascade projections scale too.
    assert all(m.params.projection == 4 for _, m in single_models(resolve(29, "tiny")))
    assert resolve(47, "tiny").model.cascade.projection == 8


def test_levels_follow_the_architectures() -> None:
    for config in CONFIGURATIONS:
        if config.model is not None:
            assert config.level == architecture(config.model.architecture).level
        else:
            assert config.level == "ensemble"
    assert {c.level for c in CONFIGURATIONS[:27]} == {"video", "frame"}
    assert [c.number for c in CONFIGURATIONS if c.level == "video" and c.number <= 27] == [1, 2]


def test_one_grammar_of_configuration_lists() -> None:
    """``parse_configs``, behind every ``--config`` / ``--configs``: numbers, #N, slugs, lists, ranges and
    variants' names (looked up where the caller says; a slug never is one), each configuration once in order;
    bad items named with the option."""
    from y8m_models.configs import parse_configs
    from y8m_models.configs.schema import Variant

    assert parse_configs("75, #80,28-30,chaining_cnn,18") == [75, 80, 28, 29, 30, 18]
    assert parse_configs("#28-#30,29,baseline_logistic") == [28, 29, 30, "baseline_logistic"]
    k16 = Variant(name="k16-lr2e-3", base=25, overrides={"model.params.groups": 16})
    asked: list[str] = []
    lookup = {"k16-lr2e-3": k16}.get
    assert parse_configs("k16-lr2e-3,25,chaining_cnn,k16-lr2e-3", variants=lambda n: asked.append(n) or lookup(n)) == [
        k16, 25, 18]
    assert asked == ["k16-lr2e-3", "k16-lr2e-3"]  # not the number, not the slug
    for text, why in (("89", "--config '89': configuration numbers run from 1 to 88"),
                      ("30-28", "--config '30-28': a range runs up"), ("3-b", "a range is two paper numbers"),
                      ("a-b", "unknown configuration 'a-b'"),
                      ("chaining_cn", "did you mean chaining_cnn"), (" , ", "give a paper number")):
        with pytest.raises(ConfigError, match=re.escape(why)):
            parse_configs(text, variants=lookup)
    with pytest.raises(ConfigError, match="--configs '0'"):
        parse_configs("0", "--configs")


def test_one_parser_of_overrides_and_it_loads_no_torch() -> None:
    """``key=value`` lines (``--set``, the Launch form): JSON values where they parse, strings otherwise; a line
    without ``=`` named; importable without torch (the dashboard uses it)."""
    import subprocess
    import sys

    from y8m_models.overrides import parse_overrides

    assert parse_overrides(["model.training.learning_rate=2e-3", " ", "model.params.cells=[8, 4]",
                            "model.params.cell = lstm_s", "a=true"]) == {
        "model.training.learning_rate": 0.002, "model.params.cells": [8, 4], "model.params.cell": "lstm_s",
        "a": True}
    with pytest.raises(ValueError, match="'learning_rate 0.1' is not key=value"):
        parse_overrides(["learning_rate 0.1"])
    probe = "import sys, y8m_models.overrides; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
