"""A recording: its schema (xarray), a simulator with a known exponent, paper-style preprocessing.

Every loader in :mod:`v1ann.io` and the simulator build recordings through
:func:`make_recording`, so they all satisfy :func:`validate_recording`.
"""

from v1ann.recording.preprocessing import preprocess
from v1ann.recording.schema import (
    make_recording,
    make_spontaneous_recording,
    stimulus_responses,
    validate_recording,
)
from v1ann.recording.simulate import (
    natural_like_images,
    simulate_recording,
    simulate_spontaneous,
)

__all__ = [
    "make_recording",
    "make_spontaneous_recording",
    "natural_like_images",
    "preprocess",
    "simulate_recording",
    "simulate_spontaneous",
    "stimulus_responses",
    "validate_recording",
]
