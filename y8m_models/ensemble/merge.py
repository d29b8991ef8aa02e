"""The final submission's merge (#80 ``final_top20_merge``; paper Appendix A #80, catalog A.9).

"Ensemble of model #78 and #79 by getting the most confident 20 tags from each model and averaging the
confidence scores. This is done directly on the test set without training." The repo has no script for
it (catalog: not determinable how a tag in only one of the two lists is scored). ``missing`` decides:

* ``"zero"`` (default, ``configs.schema.Ensemble.missing``): the model that did not list the tag
  contributes 0, so the tag scores ``s / 2``. This is the literal reading: each model's 20 tags are what
  it submits (the submission CSV holds only those, catalog §2), a tag outside a model's list has no
  confidence from it, and averaging the two lists as vectors over the classes gives ``(s + 0) / 2``.
  It is also what one gets by averaging the two submission files, which is all a merge "directly on the
  test set" needs. Its effect: a tag both models list outranks a tag of the same confidence that only
  one lists, so agreement counts.
* ``"single"``: such a tag keeps its single score ``s`` (a mean over the models that listed it), which
  makes the merge close to a per-tag maximum of the two lists.

Rows must already be aligned (the caller joins the two prediction sets by video id).
Shapes: N videos, C classes, K = top_k.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from y8m_models.metrics import top_k_indices

Missing = Literal["zero", "single"]
_MISSING = ("zero", "single")
_CHUNK_ROWS = 1024  # per chunk a few [rows, C] float64 temporaries (32 MB each at C = 3862)


def _check_scores(scores_NC: np.ndarray, name: str) -> np.ndarray:
    scores_NC = np.asarray(scores_NC)
    if scores_NC.ndim != 2:
        raise ValueError(f"{name} must be 2-D [videos, classes]; got shape {scores_NC.shape}")
    if not (np.issubdtype(scores_NC.dtype, np.floating) or np.issubdtype(scores_NC.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers; got dtype {scores_NC.dtype}")
    if np.issubdtype(scores_NC.dtype, np.floating) and np.isnan(scores_NC).any():
        r, c = np.argwhere(np.isnan(scores_NC))[0]
        raise ValueError(f"{name}[{r}, {c}] is NaN; scores must be comparable numbers")
    return scores_NC


def _in_top_k(scores_RC: np.ndarray, k: int) -> np.ndarray:
    """bool [R, C]: True for each row's first k classes (score descending, then class index ascending)."""
    chosen_RC = np.zeros(scores_RC.shape, dtype=bool)
    np.put_along_axis(chosen_RC, top_k_indices(scores_RC, k), True, axis=1)
    return chosen_RC


def merge_top_k(scores_a_NC: np.ndarray, scores_b_NC: np.ndarray, top_k: int = 20,
                missing: Missing = "zero") -> np.ndarray:
    """Average two models' top-k tags per video (#80: #78 and #79, k = 20).

    scores_a_NC, scores_b_NC: [N, C] row-aligned predictions. Returns float32 [N, C]: zero outside the
    union of the two top-k sets; a tag in both is ``(a + b) / 2``; a tag in one only is ``s / 2``
    (``missing="zero"``) or ``s`` (``missing="single"``), see the module docstring. Top-k ties at the cut
    take the lowest class indices, as in ``y8m_models.metrics``. Works in row chunks, so beyond the output
    only a few [1024, C] buffers are used.
    """
    scores_a_NC = _check_scores(scores_a_NC, "scores_a")
    scores_b_NC = _check_scores(scores_b_NC, "scores_b")
    if scores_a_NC.shape != scores_b_NC.shape:
        raise ValueError(f"scores_a has shape {scores_a_NC.shape} but scores_b has {scores_b_NC.shape}; "
                         "join the two prediction sets by video id first")
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1; got {top_k!r}")
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}; got {missing!r}")

    merged_NC = np.zeros(scores_a_NC.shape, dtype=np.float32)
    for start in range(0, scores_a_NC.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        # averages in float64; the cast is exact for float32 scores, so the top-k order is unchanged
        a_RC, b_RC = scores_a_NC[rows].astype(np.float64), scores_b_NC[rows].astype(np.float64)
        in_a_RC, in_b_RC = _in_top_k(a_RC, int(top_k)), _in_top_k(b_RC, int(top_k))
        total_RC = np.where(in_a_RC, a_RC, 0.0) + np.where(in_b_RC, b_RC, 0.0)
        if missing == "zero":
            merged_NC[rows] = total_RC / 2.0
        else:
            listed_RC = in_a_RC.astype(np.int8) + in_b_RC  # 0, 1 or 2 lists name the tag
            merged_NC[rows] = total_RC / np.maximum(listed_RC, 1)
    return merged_NC
