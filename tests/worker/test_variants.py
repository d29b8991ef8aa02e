"""Variants in the run store: saved and checked (the name, every value against the schema, a change that
changes nothing, two with the same values), listed and shown by the CLI; submitted, a variant is its base with
its values (the same content hash as ``--set``), its target run is the variant's, and the variant is frozen;
through a worker it gets a leaderboard row of its own under its base."""

from __future__ import annotations

import getpass
import json
import math
import re

import pytest
from typer.testing import CliRunner

from tests.worker.conftest import Backend, wait_for
from worker.local import LocalWorkers as Workers

K16 = {"model.params.groups": 16, "model.training.learning_rate": 0.002}


def test_a_variant_is_checked_before_it_is_saved(env: Backend) -> None:
    from worker.variants import VariantError, get_variant, list_variants, save_variant

    saved = save_variant("k16-lr2e-3", "25", {**K16, "model.params.mixtures": 8}, note="more groups")
    assert saved.label == "#25 · k16-lr2e-3" and saved.overrides == K16  # mixtures=8 is #25's own: left out
    assert get_variant("k16-lr2e-3") == saved and saved.frozen_by is None and saved.created_by == getpass.getuser()
    child = save_variant("k16-m4", "k16-lr2e-3", {"model.params.mixtures": 4})
    assert child.base == 25 and child.parent == "k16-lr2e-3" and child.overrides == {**K16, "model.params.mixtures": 4}
    for name, base, changes, says in [
        ("K16", "25", K16, "variant name 'K16'"),
        ("25b", "25", K16, "variant name '25b'"),
        ("chaining_cnn", "25", K16, "is a configuration's slug"),
        ("a__b", "25", K16, "(no '__')"),
        ("l2", "baseline_logistic", {"model.training.l2": 0.1},
         "is a Table 2 baseline: variants derive from the numbered"),
        ("k32", "nowhere", K16, "--from 'nowhere': neither a saved variant nor a configuration"),
        ("k32", "25", {"model.params.groups": 0}, "model.params: groups: Input should be greater than or equal to 1"),
        ("k32", "25", {"model.params.attentions": 16}, "attentions: Extra inputs are not permitted"),
        ("k32", "25", {"model.params.groups": 8}, "its values are #25 multi_attention_pooling_lstm's own"),
        ("k32", "25", K16, "variant 'k16-lr2e-3' has the same base and values"),
        ("k32", "k16-m4", {"model.params.mixtures": 8}, "variant 'k16-lr2e-3' has the same base and values"),
        ("k16-lr2e-3", "25", {"model.params.groups": 32}, "variant 'k16-lr2e-3' exists"),
    ]:
        with pytest.raises(VariantError, match=re.escape(says)):
            save_variant(name, base, changes)
    assert [v.name for v in list_variants()] == ["k16-lr2e-3", "k16-m4"]
    replaced = save_variant("k16-m4", "25", {"model.params.mixtures": 4}, replace=True)  # not used yet: it may change
    assert replaced.overrides == {"model.params.mixtures": 4} and replaced.parent is None


def test_the_cli_saves_lists_and_shows_variants(env: Backend) -> None:
    from worker.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["configs", "save", "cli-k4", "--from", "#25", "--set", "model.params.groups=4",
                               "--note", "fewer groups"])
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == "saved #25 · cli-k4: model.params.groups=4"
    listed = json.loads(runner.invoke(app, ["configs", "list", "--variants", "--json"]).stdout)
    assert {"name": "cli-k4", "base": 25, "overrides": {"model.params.groups": 4}, "note": "fewer groups"}.items() <= \
        next(v for v in listed if v["name"] == "cli-k4").items()
    shown = json.loads(runner.invoke(app, ["configs", "show", "cli-k4", "--preset", "tiny"]).stdout)
    assert shown["model"]["params"]["groups"] == 4 and shown["variant"]["label"] == "#25 · cli-k4"
    assert shown["parameters"]["#25 multi_attention_pooling_lstm"] > 0
    bad = runner.invoke(app, ["configs", "save", "cli-k5", "--from", "25", "--set", "model.params.groups=-1"])
    assert bad.exit_code == 2 and "model.params: groups: Input should be greater than or equal to 1" in bad.stderr
    unknown = runner.invoke(app, ["configs", "show", "cli-k9"])
    assert unknown.exit_code == 2 and "unknown configuration 'cli-k9'" in unknown.stderr


def test_a_submitted_variant_is_its_base_with_its_values_and_is_frozen(env: Backend) -> None:
    from worker.cli import app
    from worker.runs import SubmitError, list_runs, preview, show, submit
    from worker.variants import VariantError, get_variant, save_variant
    from y8m_models.options import RunOptions

    save_variant("sub-g3", "25", {"model.params.groups": 3})
    options = RunOptions(max_steps=3, seed=11)
    planned = preview("sub-g3", env.data, options)
    assert get_variant("sub-g3").frozen_by is None  # a preview freezes nothing
    same = preview("25", env.data, options.model_copy(update={"overrides": {"model.params.groups": 3}}))
    assert planned == same  # the same job, by content hash, as --set
    sub = submit("sub-g3,2", env.data, options)
    run_id = sub.targets["sub-g3"]
    assert sub.titles == {"sub-g3": "#25 · sub-g3", 2: "#2 chaining_video_8stage"}
    assert show(run_id)["variant"] == "sub-g3"
    assert show(sub.targets[2])["variant"] is None and show(run_id)["number"] == 25
    assert get_variant("sub-g3").frozen_by == run_id
    with pytest.raises(VariantError, match="frozen: run"):
        save_variant("sub-g3", "25", {"model.params.groups": 2}, replace=True)
    assert save_variant("sub-g2", "sub-g3", {"model.params.groups": 2}).overrides == {"model.params.groups": 2}
    again = submit("sub-g3", env.data, options)  # reused, still the variant's
    assert again.targets == {"sub-g3": run_id} and not again.created
    assert [r["id"] for r in list_runs(configs=_parsed("sub-g3"))] == [run_id]
    listed = CliRunner().invoke(app, ["runs", "list", "--config", "sub-g3"]).stdout.splitlines()
    assert len(listed) == 2 and f"{run_id:>5}  queued" in listed[1]
    assert "multi_attention_pooling_lstm · sub-g3" in listed[1]
    with pytest.raises(SubmitError, match="unknown configuration 'sub-g9'"):
        submit("sub-g9", env.data, options)


def test_a_variant_whose_changes_the_preset_scales_away_runs_as_its_base(env: Backend) -> None:
    """#1 with 8 mixtures instead of 4 is #1 itself at tiny (2 mixtures either way): the run is #1's."""
    from worker.runs import show, submit
    from worker.variants import get_variant, save_variant
    from y8m_models.options import RunOptions

    save_variant("m8", "1", {"model.params.mixtures": 8})
    options = RunOptions(max_steps=3, seed=12)
    plain = submit("1", env.data, options).targets[1]
    sub = submit("m8", env.data, options)
    assert sub.targets == {"m8": plain} and not sub.created
    assert show(plain)["variant"] is None and get_variant("m8").frozen_by is None
    small = submit("m8", env.data, options.model_copy(update={"preset": "small"}))  # 8 mixtures stay 8 there
    assert show(small.targets["m8"])["variant"] == "m8" and get_variant("m8").frozen_by == small.targets["m8"]


def test_the_same_values_spelled_another_way_are_the_same_variant(env: Backend) -> None:
    from worker.variants import VariantError, save_variant

    save_variant("p1025", "10", {"model.params.cells.0": 1025})
    with pytest.raises(VariantError, match="variant 'p1025' has the same base and values"):
        save_variant("p1025b", "10", {"model.params.cells": [1025, 128]})


def test_a_variant_changed_between_its_plan_and_its_runs_is_refused(env: Backend,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Planned from one read, written in another transaction: a variant saved anew in between (not frozen yet)
    is not frozen with values its run never had; nothing is written."""
    import worker.runs
    from worker.runs import SubmitError, submit
    from worker.variants import get_variant, save_variant
    from y8m_models.options import RunOptions

    save_variant("race-g5", "25", {"model.params.groups": 5})
    stale = get_variant("race-g5")
    save_variant("race-g5", "25", {"model.params.groups": 6}, replace=True)
    monkeypatch.setattr(worker.runs, "get_variant", lambda name, settings=None: stale)
    with pytest.raises(SubmitError, match="variant 'race-g5' was changed while it was being submitted"):
        submit("race-g5", env.data, RunOptions(max_steps=3, seed=13))
    assert get_variant("race-g5").frozen_by is None and not _runs_of(25, seed=13)


def _runs_of(number: int, seed: int) -> list[int]:
    from worker.runs import list_runs

    return [r["id"] for r in list_runs(configs=[number]) if r["seed"] == seed]


def _parsed(text: str) -> list:
    from worker.variants import get_variant
    from y8m_models.configs import parse_configs

    return parse_configs(text, variants=get_variant)


@pytest.mark.slow
def test_a_variant_trained_on_a_worker_has_its_own_leaderboard_row(env: Backend, workers: Workers) -> None:
    if env.name != "embedded":
        pytest.skip("the leaderboard reads the run store the same way on both backends (the submission is tested "
                    "on both above)")
    from app.data import leaderboard
    from tests.app.conftest import clear_streamlit_caches
    from worker.runs import list_runs, register_dataset, show, submit
    from worker.variants import save_variant
    from y8m_models.configs import get_config
    from y8m_models.options import RunOptions

    save_variant("lb-lr", "1", {"model.training.learning_rate": 0.003})
    workers.start()
    sub = submit("lb-lr,1", env.data, RunOptions(max_steps=8, seed=5))
    ids = list(sub.targets.values())
    wait_for(lambda: all(show(r)["status"] in ("succeeded", "failed") for r in ids), 180, f"runs {ids}")
    assert [show(r)["status"] for r in ids] == ["succeeded", "succeeded"], [show(r)["error"] for r in ids]
    clear_streamlit_caches()  # the dashboard's engine and tables, cached in this process by earlier tests
    try:
        table = leaderboard(register_dataset(env.data).id)
    finally:
        clear_streamlit_caches()
    rows, slug = table[(table["#"] == 1) & table["variant"].isin(["", "lb-lr"])].to_dict("records"), get_config(1).slug
    assert [r["configuration"] for r in rows] == [slug, f"{slug} · lb-lr"]  # (m8, from another test, has no run)
    plain, variant = rows
    assert plain["best run"] == sub.targets[1] and plain["variant"] == ""
    assert plain["runs"] == len([r for r in list_runs(configs=[1]) if r["variant"] is None])
    assert variant["best run"] == sub.targets["lb-lr"] and variant["runs"] == 1 and math.isnan(variant["paper GAP"])
    assert variant["our validate2 GAP"] == pytest.approx(show(sub.targets["lb-lr"])["gap"]["validate2"])
    assert math.isnan(variant["paper rank"]) and math.isnan(variant["our rank"])
