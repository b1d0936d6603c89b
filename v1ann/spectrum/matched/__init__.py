"""``cvpca-matched``: the exponent whose simulated cvPCA spectrum matches the observed one.

Where noise dominates the tail, cvPCA's components fitted to one repeat are tilted toward
noise and the spectrum flattens, so the published fit under-estimates steep exponents. The
bias depends on sizes and noise that the recording itself shows, so it is removed by
simulation (indirect inference): a power-law signal of the recording's total variance is
added to the recording's own noise (:mod:`.simulation`), its expected cvPCA spectrum is
compared with the observed one (:mod:`.objective`), and the exponent that matches is the
estimate, with an interval from the scatter of the comparison (:mod:`.interval`,
:mod:`.estimator`). Assumes one power law over all ranks, a signal oriented at random with
respect to the noise, and noise independent across trials (docs/spectra.md states the
method and where it fails; docs/validation.md the measurements). :mod:`.shape` does the
same with a broken power law (``cvpca-shape``), :mod:`.spontaneous` for SVCA of
spontaneous activity (``svca-matched``).
"""

from v1ann.spectrum.matched.estimator import MatchedResult, cvpca_matched_alpha
from v1ann.spectrum.matched.shape import ShapeResult, shape_matched_alpha
from v1ann.spectrum.matched.simulation import NoiseHalves, noise_halves
from v1ann.spectrum.matched.spontaneous import SpontaneousResult, svca_matched_alpha

__all__ = ["MatchedResult", "NoiseHalves", "ShapeResult", "SpontaneousResult", "cvpca_matched_alpha", "noise_halves",
           "shape_matched_alpha", "svca_matched_alpha"]
