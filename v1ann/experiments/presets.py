"""Named sweep settings that repeat the seed papers' robustness experiments (``v1ann sweep --preset``).

Both presets train with the library's recipe (:func:`v1ann.experiments.recipe.train_network`)
and attack every held-out digit with FGSM, PGD (3 restarts), APGD-CE and the black-box Square
attack at the L∞ budgets of the papers' figures. They differ from the papers where the
offline data or a CPU budget make them differ, as docs/robustness.md states: 4,000 training
digits (``mnist5k``) and a hidden layer of 1,000 units (Nassar et al. used 2,000 on all of
MNIST; ``--hidden 2000`` gives theirs). The ``-cnn`` presets regularize what both papers'
CNNs regularize, the dense hidden layer of 1,000 tanh units after two conv blocks; the
blocks have 8 and 16 channels (theirs 16 and 32), which quarters the CPU cost of the attacks.

>>> sorted(PRESETS)
['gerum2022', 'gerum2022-cnn', 'nassar2020', 'nassar2020-cnn']
>>> preset("nassar2020")["grid"]
{'target_alpha': [None, 1.0]}
"""

from __future__ import annotations

import copy

from v1ann._checks import check_option

_ATTACKED = {
    "dataset": "mnist5k", "arch": "mlp", "model_kwargs": {"hidden": [1000]}, "epochs": 20, "seeds": 5,
    "attacks": ("fgsm", "pgd", "apgd-ce", "square"), "eps": (0.0, 0.02, 0.05, 0.1, 0.2), "steps": 40,
    "restarts": 3, "n_eval": 1000,
}

_CNN = {
    "arch": "cnn", "model_kwargs": {"channels": [8, 16], "hidden": [1000]}, "train_kwargs": {"layers": ["act_fc"]},
}

PRESETS: dict[str, dict] = {
    # Nassar et al. 2020: a vanilla MLP against one whose hidden layer is regularized towards 1/n.
    "nassar2020": {**_ATTACKED, "grid": {"target_alpha": [None, 1.0]}},
    # Gerum et al. 2022: a sweep of target exponents for a dense network.
    "gerum2022": {**_ATTACKED, "grid": {"target_alpha": [None, 0.5, 1.0, 2.0, 3.0, 4.0]}},
    # The same questions for a CNN (the targets its claim compares; docs/robustness.md).
    "nassar2020-cnn": {**_ATTACKED, **_CNN, "grid": {"target_alpha": [None, 1.0]}},
    "gerum2022-cnn": {**_ATTACKED, **_CNN, "grid": {"target_alpha": [None, 1.0, 2.0, 3.0]}},
}


def preset(name: str) -> dict:
    """The keyword arguments of :func:`v1ann.experiments.sweep` for a named experiment (a copy)."""
    check_option("preset", name, PRESETS)
    return copy.deepcopy(PRESETS[name])
