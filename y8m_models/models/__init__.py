"""The architectures of configurations #1-#27, #81 on and the Table 2 baselines, one module per family:

- ``video``: logistic regression, MoE, Chaining (#2) and the complement Chaining of #1 and #29 (§3, A.1)
- ``dbof``: deep bag of frames (Table 2)
- ``lstm``: LSTM, LSTM-S, LSTM-A, bi/uni, forward/backward, parallel audio/visual (#3-#11, §2, A.2)
- ``cnn``: CNN, CNN-LSTM, Chaining over CNNs (#12, #18-#20, §3, A.2, A.4)
- ``chaining_sequence``: Chaining over LSTMs (#21, #22, A.4)
- ``multiscale``: temporal segment, temporal pooling, multi-resolution, multi-scale CNN-LSTM (#13-#17, §4)
- ``attention``: local and multiple attention pooling (#23-#27, §5)

and beyond the paper (#81 on):

- ``learnable_pooling``: WILLOW's NetVLAD, NetRVLAD, NetFV and Soft-DBoF models; NeXtVLAD and its mixture
- ``encoders``: a GRU and a Transformer encoder

Each architecture's name, level and parameters are declared in ``y8m_models.architectures`` (no torch there);
importing this package registers every builder (``base.BUILDERS``). The cascade configurations (#47-#74, §7)
are these architectures built with ``ModelInputs.cascade``: they also read ``batch["cascade"]``, the
predictions of ``architectures.cascade_streams(spec)``.
"""

from y8m_models.models import (  # noqa: F401
    attention,
    chaining_sequence,
    cnn,
    dbof,
    encoders,
    learnable_pooling,
    lstm,
    multiscale,
    video,
)
from y8m_models.models.base import BUILDERS, ModelInputs, ModelOutput, build_architecture

__all__ = ["BUILDERS", "ModelInputs", "ModelOutput", "build_architecture"]
