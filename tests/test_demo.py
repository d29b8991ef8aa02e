"""The demo's three findings (``y8m_models.paper.demo``) judged on hand-made inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from y8m_models.paper import demo


def test_frame_models_above_the_video_model_are_named_with_their_margin() -> None:
    found = demo.frame_vs_video({2: 0.80, 10: 0.79, 18: 0.81, 23: 0.85, 25: 0.80, 75: 0.9})
    assert found["above"] == [18, 23]  # 25 ties #2: not above; #75 is no frame model
    assert found["shows"] is False  # the paper has every frame model above #2, not some
    assert "2 of 4" in found["line"] and "#23 0.8500 (+0.0500)" in found["line"]
    assert demo.frame_vs_video({2: 0.7, 10: 0.79, 18: 0.81, 23: 0.85, 25: 0.80})["shows"] is True
    assert demo.frame_vs_video({2: 0.9, 25: 0.8})["shows"] is False  # one below decides it
    assert demo.frame_vs_video({2: 0.7, 25: 0.8})["shows"] is None  # the others not measured yet
    assert demo.frame_vs_video({25: 0.8})["shows"] is None  # no #2 yet
    assert demo.frame_vs_video({2: 0.8})["shows"] is None  # no frame model yet


def test_attention_on_filler_is_the_share_of_attention_against_the_share_of_frames() -> None:
    flags = np.array([True, True, False, False, False, False, False, False, True, True])  # 40% filler, then padding
    avoiding = np.tile(np.where(flags[:8], 0.0, 1.0)[:, None], (1, 2))  # [T=8, K=2]: nothing on filler
    uniform = np.ones(8)  # one group, [T]
    found = demo.attention_on_filler({"a": avoiding, "b": uniform, "unknown": uniform},
                                     {"a": flags, "b": flags})
    assert found["videos"] == 2  # "unknown" has no ground truth
    assert found["frame_share"] == pytest.approx(0.25)  # the first 8 frames: 2 of 8 are filler
    assert found["attention_share"] == pytest.approx((0.0 + 0.25) / 2)
    assert found["ratio"] == pytest.approx(0.5) and found["shows"] is True  # at most CLEARLY_LESS
    assert demo.attention_on_filler({"b": uniform}, {"b": flags})["shows"] is False  # ratio 1: attention is flat
    no_filler = demo.attention_on_filler({"c": uniform}, {"c": np.zeros(8, bool)})
    assert no_filler["shows"] is None and no_filler["videos"] == 0


def test_uninformative_share_normalises_each_group() -> None:
    w_KT = np.array([[1.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(demo.uninformative_share(w_KT, np.array([True, False, False])), [0.25, np.nan])
    with pytest.raises(ValueError, match=r"\[K, T\]"):
        demo.uninformative_share(w_KT, np.array([True]))


def test_members_carry_the_classes_where_they_weigh_most() -> None:
    w_MC = np.array([[0.9, 0.9, 0.1, 0.2] * 5, [0.1, 0.1, 0.9, 0.8] * 5])
    found = demo.carried_classes(w_MC, ["#2", "#25"])
    assert found["heaviest"] == {"#2": 10, "#25": 10} and found["shows"] is True
    one = demo.carried_classes(np.array([[0.99] * 20, [0.01] * 20]), ["#2", "#25"])
    assert one["carrying"] == ["#2"] and one["shows"] is False
    with pytest.raises(ValueError, match="2 members"):
        demo.carried_classes(np.ones((3, 4)), ["#2", "#25"])


def test_findings_count_what_shows_and_render_as_markdown() -> None:
    flags = np.array([True, False, False, False])
    gaps = {2: 0.8, 10: 0.81, 18: 0.82, 23: 0.85, 25: 0.9}
    result = demo.findings(gaps, {"v": np.array([0.0, 1.0, 1.0, 1.0])}, {"v": flags}, None)
    assert [f["shows"] for f in result["findings"]] == [True, True, None]
    assert result["shown"] == 2 and result["of"] == 3
    text = demo.to_markdown(result)
    assert text.startswith("Demo: 2 of 3 findings show.") and text.count("**shows**") == 2
    assert "**not measured yet**: stack members carry different classes" in text
