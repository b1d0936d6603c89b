"""Experiments built from the parts: the training recipe, brain-vs-network comparison, sweeps, the demo."""

from v1ann.experiments.comparison import compare
from v1ann.experiments.sweeps import summarize, sweep

__all__ = ["compare", "summarize", "sweep"]
