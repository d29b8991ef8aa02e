"""Configurations #47-#74: cascade models (paper §7, Fig. 6; Appendix A.8), as data.

Each is a single model of an earlier configuration given other configurations' predictions as an input
(``cascade.streams``: #75 for the v1 entries, #76 for v2, and for the chains #66-#73 the earlier chain
members too). ``pipeline`` plans their runs, ``executor`` runs them.
"""

from __future__ import annotations

from y8m_models.configs.ensembles import derived
from y8m_models.configs.singles import TRAINING, ZT_MIX, ZT_SCALES, wh_multitask

A8 = "A.8"
ZT = {"normalize": "none"}  # the zt cascades do not normalise the projection (the paper does not say)


def cascade(base: int, number: int, slug: str, title: str, streams: tuple[int, ...], *, gap: float,
            v1: float | None = None, notes: tuple[str, ...] = (), code: dict | None = None,
            params: dict | None = None, loss: dict | None = None, training: dict | None = None, **extra) -> dict:
    """Configuration ``base``'s model with ``streams`` as a cascade input (``extra``: more CascadeInput fields);
    ``params`` / ``loss`` / ``training`` values merged into the base's."""
    changes = {k: v for k, v in (("params", params), ("loss", loss), ("training", training)) if v}
    return derived(base, number, slug, title, A8, "§7, Fig. 6; App. A.8", gap=gap, v1=v1,
                   model={"cascade": {"streams": streams, **extra}}, notes=notes, code=code, **changes)


def video_dcc_code(stages: int, noise: float, **training: float) -> dict:
    """The wh cascade DCC (catalog #47, #57, #66-#71): projection 256, MoE 4, q = 0.05, input noise."""
    return {"model.params": {"stages": stages, "projection": 256, "mixtures": 4, "input_noise": noise},
            "model.loss": wh_multitask(0.05), **{f"model.training.{k}": v for k, v in training.items()}}


VIDEOCHAIN = video_dcc_code(3, 0.1)
LSTM_CNN_CODE = {"model.params.stages": 2, "model.loss": wh_multitask(0.1),
                 "model.params.first_channels": [128, 256, 128], "model.params.pool_padding": True}
CHAIN_NOTE = ("The chain's earlier members' predictions on train1 are in-sample (they were trained on it), "
              "which likely explains the falling GAP.",)


def videochain(i: int, gap: float) -> dict:
    """#66-#70: the i-th link of the video chain reads #76 and every earlier link's predictions."""
    earlier = tuple(range(66, 65 + i))
    inputs = ", ".join(f"#{n}" for n in (76, *earlier))
    return cascade(2, 65 + i, f"videochain_{i}", f"#2 with {inputs} as input (video chain, link {i})",
                   (76, *earlier), gap=gap, notes=CHAIN_NOTE, code=VIDEOCHAIN, training={"epochs": 2})


CASCADES = [
    cascade(2, 47, "cascade75_chaining_video", "#2 with #75's predictions as input", (75,), gap=0.8231,
            training={"epochs": 6},
            notes=("[DIFF] The code's model is a 4-stage DCC with input noise 0.15.",),
            code=video_dcc_code(4, 0.15, learning_rate=0.006, batch_size=512)),
    cascade(6, 48, "cascade75_lstm_s", "#6 with #75's predictions as input", (75,), gap=0.8245, v1=0.8293, **ZT),
    cascade(18, 49, "cascade75_chaining_cnn", "#18 with #75's predictions as input", (75,), gap=0.8268,
            training={"epochs": 3},
            notes=("[DIFF] The code has 3 stages, projection 256 and channels 256/256/512.",),
            code={"model.params.stages": 3, "model.params.channels": [256, 256, 512],
                  "model.params.pool_padding": True}),
    cascade(25, 50, "cascade75_multi_ap_lstm", "#25 with #75's predictions as input", (75,), gap=0.8267,
            v1=0.8298, **ZT),
    cascade(18, 51, "cascade75_chaining_cnn_2stage", "Chaining CNN (2 stages, 256/256/512) with #75 as input",
            (75,), gap=0.8214, v1=0.8241, params={"stages": 2, "channels": [256, 256, 512]}, loss=ZT_MIX,
            training={"clip_norm": 0.1},
            notes=("The submitted member may be a 0.8/0.2 blend of #75 and the model: not determinable.",
                   "The code appends the cascade input to the first MoE only."),
            code={"model.params.pool_padding": True}),
    cascade(3, 52, "cascade75_lstm", "#3 with #75's predictions as input", (75,), gap=0.8267, v1=0.8283,
            training={"clip_norm": 0.1}, **ZT,
            notes=("The code's LSTM has 1 layer (the final conf says 2).",),
            code={"model.params.layers": 1}),
    cascade(16, 53, "cascade75_multiscale_cnn_lstm_2", "#16 (2 scales) with #75's predictions as input", (75,),
            gap=0.8214, v1=0.8313, params={"scales": 2}, **ZT,
            code={"model.params.consensus": "class_softmax", "model.loss": {"main_weight": 0.0, "aux_weight": 0.5}}),
    cascade(16, 54, "cascade75_multiscale_cnn_lstm_4", "#16 (4 scales) with #75's predictions as input", (75,),
            gap=0.8266, v1=0.8320, **ZT,
            code={"model.params.consensus": "class_softmax", "model.params.channels": [196, 196, 392],
                  "model.loss": ZT_SCALES}),
    cascade(20, 55, "cascade75_chaining_lstm_cnn", "#20 with #75's predictions as input", (75,), gap=0.8265,
            training={"epochs": 3}, code=LSTM_CNN_CODE),
    cascade(6, 56, "cascade75_lstm_s_split", "#6 + #75 for frequent labels, #6 for infrequent ones", (75,),
            gap=0.8228, v1=0.8257, infrequent_from=6, **ZT,
            notes=("Frequent = the first 1000 of 4716 labels (the same share on another vocabulary).",
                   "[DIFF] The code copies the infrequent labels from #75, not from #6, and projects only "
                   "#75's infrequent part."),
            code={"model.cascade.infrequent_from": 75}),
    cascade(2, 57, "cascade76_chaining_video", "#2 with #76's predictions as input", (76,), gap=0.8202,
            training={"epochs": 3}, code=video_dcc_code(4, 0.15, learning_rate=0.007, batch_size=512)),
    cascade(25, 58, "cascade76_multi_ap_lstm", "#25 with #76's predictions as input", (76,), gap=0.8254,
            training={"clip_norm": 1.0, "epochs": 3},
            notes=("The code's model is the wh re-implementation of #25 (same structure).",)),
    cascade(20, 59, "cascade76_chaining_lstm_cnn", "#20 with #76's predictions as input", (76,), gap=0.8250,
            training={"epochs": 3}, code=LSTM_CNN_CODE),
    cascade(6, 60, "cascade76_lstm_s", "#6 with #76's predictions as input", (76,), gap=0.8245, v1=0.8273, **ZT),
    cascade(7, 61, "cascade76_lstm_a", "#7 with #76's predictions as input", (76,), gap=0.8247, v1=0.8280, **ZT,
            code={"model.params.lstm_a_scalar_gates": True}),
    cascade(21, 62, "cascade76_chaining_lstm", "#21 with #76's predictions as input", (76,), gap=0.8251,
            training={"epochs": 2},
            notes=("The code has a 1-layer LSTM per stage and 3 stages, projection 256.",),
            code={"model.params": {"layers": 1, "stages": 2, "projection": 256}, "model.loss": wh_multitask(0.1)}),
    cascade(16, 63, "cascade76_multiscale_cnn_lstm", "#16 with #76's predictions as input", (76,), gap=0.8258,
            training={"clip_norm": 1.0, "epochs": 3},
            code={"model.params.scales": 3, "model.loss": {"main_weight": 0.0, "aux_weight": 1.0}}),
    cascade(10, 64, "cascade76_parallel_lstm_output", "#10 with #76's predictions as input", (76,), gap=0.8248,
            training={"epochs": 2}, code={"model.params.mixtures": 4}),
    cascade(10, 65, "cascade76_parallel_lstm_output_boost", "#64 also up-weighting what #76 gets wrong", (76,),
            gap=0.8218, boost_from_stream=True, code={"model.params.layers": 1}),
    *[videochain(i, gap) for i, gap in enumerate((0.8181, 0.7989, 0.7849, 0.7753, 0.7833), start=1)],
    cascade(2, 71, "hybridchain_video", "#2 with #76's predictions as input (hybrid chain, first)", (76,),
            gap=0.8183, training={"epochs": 2}, code=VIDEOCHAIN),
    cascade(2, 72, "hybridchain_cnn", "#2 with #76 and #71 as input (hybrid chain, second)", (76, 71), gap=0.8085,
            training={"epochs": 2},
            notes=("[DIFF] The code's model is the Chaining CNN of #18 (3 stages, projection 256).",),
            code={"model.architecture": "chaining_cnn",
                  "model.params": {"stages": 3, "projection": 256, "channels": [256, 256, 512], "pool_padding": True},
                  "model.loss": wh_multitask(0.05), "model.training": {**TRAINING["frame"], "epochs": 2}}),
    cascade(2, 73, "hybridchain_lstm", "#2 with #76, #71, #72 as input (hybrid chain, third)", (76, 71, 72),
            gap=0.8111, training={"epochs": 1},
            notes=("[DIFF] The code's model is the parallel LSTM of #10 (1 layer, outputs, MoE 8).",),
            code={"model.architecture": "parallel_lstm", "model.params": {"layers": 1, "state": "output"},
                  "model.loss": {}, "model.training": {**TRAINING["frame"], "learning_rate": 0.0008, "epochs": 1}}),
    cascade(2, 74, "cascade_l1norm_video", "#2 with the L1-normalised prediction of #76 as input", (76,),
            gap=0.8227, v1=0.8260, l1_input=True,
            notes=("[DIFF] The code feeds #75 (not #76) to a single MoE 8 without Chaining; its L1 normalisation "
                   "comes after the projection and is cancelled by the L2 normalisation.",
                   "Batch 128 / lr 0.001 (script) or 1024 / 0.01 (history) is not determinable."),
            code={"model.architecture": "moe", "model.params": {"mixtures": 8}, "model.loss": {},
                  "model.cascade.streams": [75], "model.cascade.l1_input": False, "model.training.clip_norm": 0.1}),
]
