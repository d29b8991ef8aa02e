"""Reusable blocks of the monkeytyping models, one concept per file; never imports ``models/``.

Shape suffixes: B batch, T frames, D features, C classes, K experts (mixtures), S chaining stages.
"""
