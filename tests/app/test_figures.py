"""The dashboard's pure figure and picture builders (app/components), without Streamlit.

Plotly 7 may keep arrays as base64 typed arrays in ``fig.to_dict()``, so values are read from
``fig.data[i]`` and compared as numpy arrays.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from app.components import frames
from app.components.figures import (
    ROADMAP,
    attention_over_time,
    compare,
    curves,
    extreme_frames,
    focused_groups,
    leaderboard_scatter,
    member_weights,
    mixture,
    roadmap,
    roadmap_rows,
    stacking_heatmap,
    uninformative_share,
)
from app.components.frames import feature_strip, frame_image

COMPONENTS = Path(__file__).resolve().parents[2] / "app" / "components"


def _is_empty(fig: go.Figure) -> bool:
    return len(fig.data) == 0 and [a.text for a in fig.layout.annotations] == ["no data yet"]


def _titled(fig: go.Figure) -> bool:
    return bool(fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text)


# ------------------------------------------------------------------------------------------------ purity


def test_components_import_neither_streamlit_nor_torch() -> None:
    imported = set()
    for path in COMPONENTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported and not imported & {"streamlit", "torch"}


# ------------------------------------------------------------------------------------------------ empties


@pytest.mark.parametrize("build", [
    lambda: curves({}, ["loss"], "loss"),
    lambda: curves({"loss": []}, ["loss"], "loss"),
    lambda: compare({}, "validate2/gap"),
    lambda: leaderboard_scatter([]),
    lambda: leaderboard_scatter([{"number": 3, "slug": "x", "section": "s", "paper_gap": 0.8, "our_gap": None}]),
    lambda: roadmap([]),
    lambda: attention_over_time(np.zeros((2, 0))),
    lambda: attention_over_time(np.ones((2, 5)), num_frames=0),
    lambda: stacking_heatmap(np.zeros((0, 3)), [], ["a", "b", "c"]),
    lambda: member_weights(np.zeros((0, 3)), []),
    lambda: mixture(np.zeros((0, 4)), []),
])
def test_empty_input_gives_an_empty_titled_figure_that_says_so(build) -> None:
    fig = build()
    assert _is_empty(fig) and _titled(fig)


# ------------------------------------------------------------------------------------------------ curves


def test_curves_draw_the_named_series_sorted_by_step() -> None:
    series = {"loss": [(20, 0.5), (10, 0.9), (30, 0.4)], "lr": [(10, 0.1)]}
    fig = curves(series, ["loss"], "training loss")
    assert [t.name for t in fig.data] == ["loss"]
    np.testing.assert_array_equal(np.asarray(fig.data[0].x), [10, 20, 30])
    np.testing.assert_allclose(np.asarray(fig.data[0].y), [0.9, 0.5, 0.4])
    assert fig.data[0].mode == "lines" and fig.layout.title.text == "training loss" and _titled(fig)


def test_gap_curves_have_markers_and_the_unit_range() -> None:
    series = {"validate1/gap": [(100, 0.61), (200, 0.7)], "validate2/gap": [(200, 0.68)]}
    fig = curves(series, ["validate1/gap", "validate2/gap"], "GAP")
    assert [t.name for t in fig.data] == ["validate1/gap", "validate2/gap"]
    assert {t.mode for t in fig.data} == {"lines+markers"}
    assert tuple(fig.layout.yaxis.range) == (0, 1)


def test_compare_overlays_one_line_per_run() -> None:
    runs = {"#1 run 7": [(1, 0.5), (2, 0.6)], "#2 run 9": [(1, 0.4)], "#3 run 11": []}
    fig = compare(runs, "validate2/gap")
    assert [t.name for t in fig.data] == ["#1 run 7", "#2 run 9"]
    np.testing.assert_allclose(np.asarray(fig.data[1].y), [0.4])
    assert fig.layout.yaxis.title.text == "validate2/gap" and tuple(fig.layout.yaxis.range) == (0, 1)


# ------------------------------------------------------------------------------------------------ leaderboard

ROWS = [
    {"number": 1, "slug": "moe", "section": "video-level", "paper_gap": 0.8166, "our_gap": 0.81},
    {"number": 9, "slug": "lstm-s", "section": "frame-level", "paper_gap": 0.8306, "our_gap": 0.84},
    {"number": 2, "slug": "chaining", "section": "video-level", "paper_gap": 0.8206, "our_gap": 0.79},
    {"number": 5, "slug": "no-run", "section": "video-level", "paper_gap": 0.82, "our_gap": None},
    {"number": 80, "slug": "no-paper", "section": "ensemble", "paper_gap": None, "our_gap": 0.85},
]


def test_scatter_has_a_point_per_row_with_both_gaps_coloured_by_section() -> None:
    fig = leaderboard_scatter(ROWS)
    points = {t.name: t for t in fig.data if t.mode == "markers"}
    assert list(points) == ["video-level", "frame-level"]
    assert list(points["video-level"].hovertext) == ["#1 moe", "#2 chaining"]
    np.testing.assert_allclose(np.asarray(points["video-level"].x), [0.8166, 0.8206])
    np.testing.assert_allclose(np.asarray(points["video-level"].y), [0.81, 0.79])
    assert list(points["frame-level"].hovertext) == ["#9 lstm-s"]
    assert "3 of 5" in fig.layout.title.text


def test_scatter_diagonal_is_dashed_and_spans_every_point() -> None:
    fig = leaderboard_scatter(ROWS)
    (line,) = [t for t in fig.data if t.mode == "lines"]
    x, y = np.asarray(line.x), np.asarray(line.y)
    np.testing.assert_array_equal(x, y)
    assert line.line.dash == "dash"
    assert x[0] <= 0.79 and x[-1] >= 0.84  # lowest and highest value among the shown points
    assert x[-1] - x[0] < 0.06  # over the shown range, not [0, 1]


# ------------------------------------------------------------------------------------------------ road-map


def test_roadmap_constant_is_table_12() -> None:
    assert [r[1] for r in ROADMAP] == [0.8425, 0.8435, 0.8437, 0.8451, 0.8453, 0.8458]
    assert [r[2] for r in ROADMAP] == [77, None, None, None, None, 79]
    assert ROADMAP[0][0] == "27 single models" and ROADMAP[-1][0] == "Attention weighted stacking"


def test_roadmap_draws_the_paper_in_row_order_and_ours_where_present() -> None:
    rows = roadmap_rows({77: 0.8301, 79: 0.8402, 3: 0.5})
    assert [r["ours"] for r in rows] == [0.8301, None, None, None, None, 0.8402]
    fig = roadmap(rows)
    paper, ours = fig.data
    assert list(paper.x) == [r[0] for r in ROADMAP] and list(fig.layout.xaxis.categoryarray) == list(paper.x)
    np.testing.assert_allclose(np.asarray(paper.y), [r[1] for r in ROADMAP])
    assert list(ours.x) == ["27 single models", "Attention weighted stacking"]
    np.testing.assert_allclose(np.asarray(ours.y), [0.8301, 0.8402])
    assert len(roadmap(roadmap_rows({})).data) == 1


# ------------------------------------------------------------------------------------------------ attention


def test_uninformative_share_normalises_each_group_first() -> None:
    w_KT = np.array([[1.0, 1.0, 2.0, 4.0],   # 1 + 1 of 8 on frames 0, 1
                     [0.0, 0.5, 0.5, 0.0],   # 0.5 of 1
                     [0.0, 0.0, 0.0, 0.0]])  # no attention: undefined
    u = np.array([True, True, False, False, True, True])  # beyond T: ignored
    np.testing.assert_allclose(uninformative_share(w_KT, u), [0.25, 0.5, np.nan])


def test_uninformative_flags_must_cover_the_frames() -> None:
    with pytest.raises(ValueError, match="uninformative_T: 2 flags for 4 frames"):
        uninformative_share(np.ones((1, 4)), np.array([True, False]))


def test_extreme_frames_of_a_known_vector() -> None:
    w_T = np.array([0.05, 0.30, 0.01, 0.20, 0.02, 0.15, 0.04, 0.10, 0.03, 0.10])
    (low, high), (low2, high2) = extreme_frames(np.stack([w_T, w_T[::-1]]))
    assert low == [2, 4, 8, 6] and high == [1, 3, 5, 7]  # 7 and 9 tie at 0.10: the earlier frame
    assert low2 == [7, 5, 1, 3] and high2 == [8, 6, 4, 0]


def test_extreme_frames_only_among_the_first_num_frames() -> None:
    w_T = np.array([0.5, 0.1, 0.3, 0.2, 0.9, 0.0])  # frames 4, 5 are beyond the video
    ((low, high),) = extreme_frames(w_T[None], k=2, num_frames=4)
    assert low == [1, 3] and high == [0, 2]
    ((low, high),) = extreme_frames(w_T[None], k=4, num_frames=3)
    assert low == [1, 2, 0] and high == [0, 2, 1]


def test_focused_groups_are_those_with_the_highest_single_weight() -> None:
    """WILLOW's 256 clusters: the gallery shows the 8 most focused; here 2 of 4, among the first 3 frames only."""
    w_KT = np.array([[0.3, 0.3, 0.4, 0.0], [0.9, 0.1, 0.0, 0.0], [0.2, 0.2, 0.2, 0.99], [0.1, 0.8, 0.1, 0.0]])
    assert focused_groups(w_KT, 2, num_frames=3) == [1, 3]  # group 2's 0.99 is beyond the video
    assert focused_groups(w_KT, 2) == [1, 2]
    assert focused_groups(w_KT, 9) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="n: expected >= 1"):
        focused_groups(w_KT, 0)


def test_attention_over_time_lines_truncation_and_shading() -> None:
    w_KT = np.array([[0.1, 0.4, 0.4, 0.1, 0.0, 0.0],
                     [0.25, 0.25, 0.25, 0.25, 0.0, 0.0]])
    u = np.array([True, False, False, True, True, False, False])  # runs [0] and [3]; frames 4+ cut
    fig = attention_over_time(w_KT, u, num_frames=4)
    assert [t.name for t in fig.data] == ["group 1 (20% uninformative)", "group 2 (50% uninformative)"]
    np.testing.assert_array_equal(np.asarray(fig.data[0].x), [0, 1, 2, 3])
    np.testing.assert_allclose(np.asarray(fig.data[1].y), [0.25] * 4)
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(-0.5, 0.5), (2.5, 3.5)]
    assert "35.0% on uninformative" in fig.layout.title.text and _titled(fig)


def test_attention_over_time_without_flags_has_no_shading() -> None:
    fig = attention_over_time(np.full((3, 5), 0.2))
    assert [t.name for t in fig.data] == ["group 1", "group 2", "group 3"]
    assert not fig.layout.shapes and "uninformative" not in fig.layout.title.text


def test_attention_weights_must_be_groups_by_frames() -> None:
    with pytest.raises(ValueError, match=r"weights_KT: expected \[K groups, T frames\]"):
        attention_over_time(np.ones(5))


# ------------------------------------------------------------------------------------------------ stacking

W_MC = np.array([[0.1, 0.6, 0.3, 0.5],
                 [0.9, 0.4, 0.7, 0.5]])
MEMBERS = ["#1 moe", "#9 lstm-s"]
CLASSES = ["Game", "Car", "Music", "Food"]


def test_heatmap_columns_follow_the_order_and_the_cap() -> None:
    fig = stacking_heatmap(W_MC, MEMBERS, CLASSES, order=np.array([2, 0, 3]), max_classes=2)
    (heat,) = fig.data
    z = np.asarray(heat.z)
    assert z.shape == (2, 2)
    np.testing.assert_allclose(z, [[0.3, 0.1], [0.7, 0.9]])
    assert list(heat.x) == ["2", "0"] and list(heat.y) == MEMBERS
    assert np.asarray(heat.customdata)[1].tolist() == ["Music", "Game"]
    assert "first 2 of 3 classes" in fig.layout.title.text


def test_heatmap_without_order_shows_every_class_under_the_cap() -> None:
    fig = stacking_heatmap(W_MC, MEMBERS, CLASSES)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), W_MC)
    assert "first" not in fig.layout.title.text and _titled(fig)


@pytest.mark.parametrize(("order", "match"), [
    (np.array([0, 4]), r"order: expected distinct class indices in \[0, 4\)"),
    (np.array([1, 1]), "distinct"),
    (np.array([0.5]), "integers"),
])
def test_heatmap_refuses_a_bad_order(order, match) -> None:
    with pytest.raises(ValueError, match=match):
        stacking_heatmap(W_MC, MEMBERS, CLASSES, order=order)


def test_heatmap_refuses_names_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="members: 1 names for 2 rows"):
        stacking_heatmap(W_MC, MEMBERS[:1], CLASSES)
    with pytest.raises(ValueError, match="class_names: 3 names for 4 columns"):
        stacking_heatmap(W_MC, MEMBERS, CLASSES[:3])


def test_member_weights_average_over_classes() -> None:
    fig = member_weights(W_MC, MEMBERS)
    (bars,) = fig.data
    assert list(bars.x) == MEMBERS
    np.testing.assert_allclose(np.asarray(bars.y), [0.375, 0.625])
    assert fig.layout.shapes[0].y0 == 0.5  # uniform 1/M


def test_mixture_stacks_one_segment_per_component() -> None:
    alpha_NK = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    fig = mixture(alpha_NK, ["vidA", "vidB"])
    assert [t.name for t in fig.data] == ["component 1", "component 2", "component 3"]
    assert fig.layout.barmode == "stack" and list(fig.data[0].x) == ["vidA", "vidB"]
    np.testing.assert_allclose(np.asarray(fig.data[2].y), [0.1, 0.5])


# ------------------------------------------------------------------------------------------------ frames


def test_feature_strip_is_a_deterministic_uint8_picture_of_the_frames() -> None:
    rng = np.random.default_rng(0)
    x_TD = rng.normal(size=(7, 12)).astype(np.float32)
    strip = feature_strip(x_TD, height=10)
    assert strip.dtype == np.uint8 and strip.shape == (10, 7 * frames.COLUMN_PX, 3)
    np.testing.assert_array_equal(strip, feature_strip(x_TD.copy(), height=10))
    assert strip[:, :, 0].min() == 0 and strip[:, :, 0].max() == 255  # stretched over the video
    assert (strip == strip[:1]).all()  # every row the same


def test_feature_strip_colours_follow_the_three_chunks() -> None:
    x_TD = np.zeros((2, 6))
    x_TD[1, 0:2] = 1.0  # frame 1: high in the first chunk (red) only
    strip = feature_strip(x_TD, height=1)
    assert strip[0, 0].tolist() == [0, 128, 128] and strip[0, -1].tolist() == [255, 128, 128]
    assert feature_strip(np.zeros((0, 6))).shape == (48, 0, 3)


def test_frame_image_reads_user_frames_and_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "abc").mkdir()
    (tmp_path / "abc" / "3.jpg").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "abc" / "4.png").write_bytes(b"\x89PNG")
    assert frame_image(tmp_path, "abc", 3) == b"\xff\xd8jpeg"
    assert frame_image(tmp_path, "abc", 4) == b"\x89PNG"
    assert frame_image(tmp_path, "abc", 5) is None and frame_image(tmp_path, "zzz", 3) is None
    assert frame_image(None, "abc", 3) is None
    for bad in ("../x", "a/b", "a\\b", ".."):
        with pytest.raises(ValueError, match="video_id"):
            frame_image(tmp_path, bad, 3)
    with pytest.raises(ValueError, match=r"'\.\./x'"):
        frame_image(None, "../x", 0)

