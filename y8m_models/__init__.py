"""y8m: large-vocabulary video classification on YouTube-8M features, in PyTorch.

The ML core. Pure PyTorch + numpy; imports nothing from ``app/``, ``worker/`` or ``db/``.
"""

__version__ = "0.1.0"
