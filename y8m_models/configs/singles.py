"""Configurations #1-#27 (paper Appendix A.1-A.5) and the Table 2 baselines, as data.

Each entry states only what differs from its family default: the architecture's parameter defaults
(``y8m_models/models``), the loss default (plain cross-entropy) and the training default of its input
level (paper §4.8: video models lr 0.01 and batch 1024, frame models lr 0.001 and batch 128; Adam, decay 0.95
per 4M examples, per-tensor clip 1.0, 5 epochs). ``code`` lists the authors' values where they
differ from the paper (paths relative to the model; [DIFF] in catalog_80.md). The zt models' clip 0.1 is
the authors' too, but the paper gives no clip at all, so it is the default here; so are the epochs.
Where the paper is silent and the authors' code lets padding change the result (max over padded positions,
clips or windows that run into padding), the default masks the padding and the code's way is the option:
a model's output must not depend on how much its batch was padded.
"""

from __future__ import annotations

from typing import Any

TRAINING = {"video": {"learning_rate": 0.01, "batch_size": 1024},
            "frame": {"learning_rate": 0.001, "batch_size": 128}}
ZT = {"clip_norm": 0.1}  # Zhang Teng's trainer (catalog §3)


def wh_multitask(q: float) -> dict[str, float]:
    """The wh MultiTaskCrossEntropyLoss: (1 - q) CE(final) + q sum_s CE(stage s)."""
    return {"main_weight": round(1 - q, 6), "aux_weight": q}


ZT_MIX = {"main_weight": 1.0, "aux_weight": 0.1}  # zt: CE(final) + 0.1 sum_s CE(stage s)
ZT_SCALES = {"main_weight": 0.0, "aux_weight": 0.25}  # zt frame loss: mean CE over 4 scales, final x 0


def single(number: int | None, slug: str, title: str, section: str, paper_section: str, architecture: str,
           level: str, *, params: dict | None = None, loss: dict | None = None, training: dict | None = None,
           gap: float | None = None, v1: float | None = None, notes: tuple[str, ...] = (),
           code: dict | None = None) -> dict[str, Any]:
    return {"number": number, "slug": slug, "title": title, "section": section, "paper_section": paper_section,
            "paper_gap": gap, "validate1_gap": v1, "notes": notes,
            "as_in_code": {f"model.{path}": value for path, value in (code or {}).items()},
            "model": {"architecture": architecture, "params": params or {}, "loss": loss or {},
                      "training": {**TRAINING[level], **(training or {})}}}


BASELINES = [
    single(None, "baseline_logistic", "Logistic regression on video features", "T2", "§2, Table 2", "logistic",
           "video", gap=0.7577),
    single(None, "baseline_moe16", "MoE with 16 mixtures on video features", "T2", "§2, Table 2; §3, Table 5",
           "moe", "video", gap=0.7957, notes=("Table 5 gives 0.7965 for the same model.",)),
    single(None, "baseline_dbof", "Deep bag of frames (the starter code's DbofModel)", "T2", "§2, Table 2",
           "dbof", "frame", gap=0.7845,
           notes=("Sizes are the Google starter code's defaults (the catalog gives no DBoF detail).",)),
    single(None, "baseline_lstm_1layer", "Vanilla LSTM, 1 layer of 1024 cells, MoE 8", "T2", "§2, Table 3", "lstm",
           "frame", params={"layers": 1}, gap=0.8091),
    single(None, "baseline_cnn", "Original CNN (widths 1/2/3 x 512/512/1024), MoE 4", "T2", "§3, Table 5", "cnn",
           "frame", gap=0.7904, code={"params.pool_padding": True}),
]

SINGLES = [
    # A.1 video-level
    single(1, "chaining_video_relabel", "Chaining video model with relabelling", "A.1", "§3, App. A.1",
           "complement_chaining", "video", loss={**ZT_MIX, "relabel": "paper"}, training=ZT, gap=0.8067, v1=0.8088,
           notes=("[DIFF] The code relabels while the batch loss is >= 10 and adds a hard label; the paper "
                  "uses the most confident tag as a soft target once the loss is < 10.",
                  "The code takes one arg-max over the concatenated auxiliary heads; here each head relabels "
                  "with its own arg-max."),
           code={"loss.relabel": "code"}),
    single(2, "chaining_video_8stage", "Chaining video model, 8 stages, MoE 2, projection 128", "A.1",
           "§3, Table 5; App. A.1", "chaining_video", "video", loss=wh_multitask(0.025), gap=0.8106,
           notes=("[DIFF] The script trains with lr 0.004 and batch 512 (paper default 0.01 / 1024).",),
           code={"training.learning_rate": 0.004, "training.batch_size": 512}),
    # A.2 baseline frame-level models
    single(3, "lstm_1024x2_moe8", "LSTM, 2 layers of 1024 cells, MoE 8", "A.2", "§2, Table 2", "lstm", "frame",
           gap=0.8131, code={"training.learning_rate": 0.0008}),
    single(4, "lstm_2048x2_moe4", "LSTM, 2 layers of 2048 cells, MoE 4", "A.2", "App. A.2", "lstm", "frame",
           params={"cells": 2048, "mixtures": 4}, gap=0.8152, code={"training.learning_rate": 0.0004}),
    single(5, "biuni_lstm_1024_moe4", "Bidirectional then unidirectional LSTM, 1024 cells, MoE 4", "A.2",
           "App. A.2", "biuni_lstm", "frame", gap=0.8105,
           notes=("The training script is not in the repo: lr and batch are the paper's defaults.",)),
    single(6, "lstm_s_1024_moe8", "LSTM-S (shared input and forget gates), 1024 cells, MoE 8", "A.2",
           "§2, Table 3", "lstm", "frame", params={"cell": "lstm_s", "layers": 1}, training=ZT, gap=0.8123,
           v1=0.8148),
    single(7, "lstm_a_1024_moe8", "LSTM-A (input accumulator), 1024 cells, MoE 8", "A.2", "§2, Eq. 2, Table 3",
           "lstm", "frame", params={"cell": "lstm_a", "layers": 1}, training=ZT, gap=0.8131, v1=0.8152,
           notes=("[DIFF] The code makes all LSTM-A gates scalars.",),
           code={"params.lstm_a_scalar_gates": True}),
    single(8, "lstm_a_fwd_bwd_1024", "Forward LSTM-A then backward LSTM-A, 1024 cells, MoE 8", "A.2", "App. A.2",
           "lstm_a_fwd_bwd", "frame", training=ZT, gap=0.8131, v1=0.8131,
           notes=("[DIFF] The code reads backward first, has no accumulator and uses MoE 4.",),
           code={"params.variant": "code", "params.mixtures": 4}),
    single(9, "parallel_lstm_memory", "Parallel visual/audio LSTMs (1024/128, 2 layers), memory cells, MoE 8",
           "A.2", "§2, Table 4", "parallel_lstm", "frame", gap=0.8161, code={"training.learning_rate": 0.0008}),
    single(10, "parallel_lstm_output", "Parallel visual/audio LSTMs, gated outputs, MoE 8", "A.2", "App. A.2",
           "parallel_lstm", "frame", params={"state": "output"}, training={"epochs": 3}, gap=0.8160),
    single(11, "lstm_random_half_frames", "LSTM 1024x2, MoE 8, random 50% frame sampling", "A.2", "App. A.2",
           "lstm", "frame", params={"random_half_frames": True, "eval_subsets": 16}, training=ZT, gap=0.8137,
           v1=0.8145,
           notes=("[DIFF] In the code the training-time sampling is dead code; only the 16-subset averaging at "
                  "evaluation runs.",),
           code={"params.random_half_frames": False}),
    single(12, "cnn_lstm", "CNN (widths 1/2/3 x 1024) then LSTM 1024x2, MoE 8", "A.2", "App. A.2", "cnn_lstm",
           "frame", gap=0.8103, code={"training.learning_rate": 0.0008}),
    # A.3 temporal multi-scale
    single(13, "temporal_segment_lstm", "Temporal-segment LSTM, 10-frame clips, 1024 cells, MoE 8", "A.3",
           "§4, Fig. 3a, Table 6", "temporal_segment_lstm", "frame", training=ZT, gap=0.8122, v1=0.8145,
           notes=("[DIFF-detail] The code runs the clip LSTM without a length mask.",),
           code={"params.mask_clips": False}),
    single(14, "temporal_pooling_lstm", "Temporal-pooling LSTM, 4 layers of 1024 with 2-pooling, MoE 8", "A.3",
           "§4, Fig. 3a, Table 6", "temporal_pooling_lstm", "frame", gap=0.8085,
           notes=("[DIFF, large] The code is a 5-level frame-hop parallel 512/64 LSTM with concatenated states "
                  "and MoE 4.", "The paper itself says MoE 8 (Appendix) and MoE 4 (§4 text)."),
           code={"params.variant": "code", "params.cells": [512, 64], "params.layers": 2, "params.levels": 5,
                 "params.mixtures": 4, "params.normalize": "none", "training.learning_rate": 0.0008}),
    single(15, "multires_lstm_chaining", "Multi-resolution LSTM joined by 4-stage Chaining, MoE 4", "A.3",
           "§4, Fig. 3b, Table 6", "multires_lstm_chaining", "frame", params={"aux_dropout": 0.1},
           loss=wh_multitask(0.05), gap=0.8149,
           notes=("Table 6 gives 0.8148.", "Dropout 0.1 on the auxiliary MoE inputs is the code's (the paper is "
                  "silent)."),
           code={"params.partial_windows": False, "training.learning_rate": 0.0008}),
    single(16, "multiscale_cnn_lstm", "Multi-scale CNN-LSTM, 4 scales, consensus by averaging, MoE 4", "A.3",
           "§4, Fig. 3c, Table 6", "multiscale_cnn_lstm", "frame", training=ZT, gap=0.8204, v1=0.8223,
           notes=("[DIFF] The code's consensus is a per-class softmax over scales whose loss weight is 0: only "
                  "the mean CE of the scales is trained. The paper averages and says max 'would lead to "
                  "difficulties in convergence', which only holds when the consensus is trained: the loss here is "
                  "on the averaged prediction.",),
           code={"params.consensus": "class_softmax", "loss": ZT_SCALES}),
    single(17, "multiscale_cnn_lstm_s", "Multi-scale CNN-LSTM with LSTM-S cells", "A.3", "App. A.3",
           "multiscale_cnn_lstm", "frame", params={"cell": "lstm_s", "normalize": "none"}, training=ZT,
           gap=0.8147, v1=0.8166,
           notes=("The code trains only the scales (mean CE); lr 0.001 or 0.002 is not determinable.",),
           code={"loss": ZT_SCALES}),
    # A.4 Chaining
    single(18, "chaining_cnn", "Chaining CNN, 4 stages, widths 1/2/3 x 128/128/256, projection 256, MoE 4", "A.4",
           "§3, Table 5; App. A.4", "chaining_cnn", "frame", loss=wh_multitask(0.05), gap=0.8179,
           notes=("[DIFF] The code projects to 128 (paper 256) and max-pools over padding too.",),
           code={"params.projection": 128, "params.pool_padding": True}),
    single(19, "chaining_deep_cnn", "Chaining over a 3-layer CNN's pooled maps, MoE 4", "A.4", "App. A.4",
           "chaining_deep_cnn", "frame", loss=wh_multitask(0.1), gap=0.8155,
           notes=("[DIFF] The code gives every stage its own deep CNN and has 3 stages (paper 4).",
                  "The script caps training at 2 epochs but the checkpoint is at ~7.9 epochs."),
           code={"params.variant": "code", "params.stages": 2, "params.pool_padding": True,
                 "training.epochs": 2}),
    single(20, "chaining_lstm_cnn", "Chaining over a parallel LSTM's outputs with a CNN per stage", "A.4",
           "App. A.4", "chaining_lstm_cnn", "frame", loss=wh_multitask(0.05), gap=0.8122,
           code={"params.first_channels": [128, 256, 128], "params.pool_padding": True, "training.batch_size": 96}),
    single(21, "chaining_lstm", "Chaining of 2 LSTMs (2x1024), projection 200, MoE 4", "A.4", "§3, Table 5",
           "chaining_lstm", "frame", loss=wh_multitask(0.2), gap=0.8172, code={"training.learning_rate": 0.0008}),
    single(22, "chaining_shared_lstm", "Chaining on one LSTM's memory (2x1024), projection 256, MoE 4", "A.4",
           "App. A.4", "chaining_lstm", "frame", params={"shared_lstm": True, "projection": 256},
           loss=wh_multitask(0.05), gap=0.8162, code={"training.learning_rate": 0.0005}),
    # A.5 attention pooling
    single(23, "local_attention_pooling_lstm", "Local attention pooling over the input, LSTM 2x1024, MoE 4", "A.5",
           "§5, Eq. 5, Table 7", "local_attention_lstm", "frame", gap=0.8133,
           notes=("[DIFF] The code scores frames with a sigmoid normalised by the sum and feeds all LSTM states.",
                  "The training script is not in the repo."),
           code={"params.variant": "code"}),
    single(24, "lstm_attention_lstm", "One LSTM's attention pools another LSTM's outputs, 1024, MoE 8", "A.5",
           "App. A.5", "lstm_attention_lstm", "frame", gap=0.8088,
           notes=("The training script is not in the repo.",), code={"params.normalization": "sigmoid"}),
    single(25, "multi_attention_pooling_lstm", "Multiple attention pooling (8 groups), LSTM 2x1024, MoE 8", "A.5",
           "§5, Eq. 3-4, Fig. 4, Table 7", "multi_attention_lstm", "frame", training=ZT, gap=0.8157, v1=0.8177,
           notes=("The paper says MoE 8 (§5) and MoE 4 (Appendix); the code uses 8.",)),
    single(26, "multi_attention_pooling_two_lstm", "Multiple attention pooling with a separate attention LSTM",
           "A.5", "App. A.5", "multi_attention_two_lstm", "frame", training=ZT, gap=0.8081, v1=0.8106,
           notes=("[DIFF] The code uses 4 groups restricted to local windows and MoE 8 (paper 8 groups, MoE 4).",),
           code={"params.local_windows": True, "params.groups": 4, "params.mixtures": 8}),
    single(27, "positional_multi_attention_pooling_lstm", "Multiple attention pooling with positional embedding",
           "A.5", "§5, Table 7", "multi_attention_lstm", "frame", params={"positional": 32},
           training={"epochs": 6}, gap=0.8169,
           notes=("The code's attention network also sees the mean of the video's frames.",),
           code={"params.attention_input": "frame_output_mean"}),
]
