"""Host memory of ``v1ann.nn.activations``: preallocated per-layer store vs collect-and-concatenate.

Records a wide conv map (the first block of ``v1ann.nn.models.cnn`` on 28x28 images, 6,272
units per stimulus) for many stimuli, in batches, two ways on the same model and inputs:

* ``v1ann``        -- ``activations(model, x)``: each batch's output is copied into one
                      host array allocated once the first batch shows the layer's shape.
* ``concatenate``  -- the usual hook recipe: a list of per-batch numpy copies, then
                      ``np.concatenate`` at the end (briefly holds the result twice).

Printed: peak host memory allocated by numpy during the call (``tracemalloc``, which sees
numpy's allocations; torch's per-batch tensors are the same for both and are not counted),
as a multiple of the result's size, and wall time. Target: v1ann's ratio ~1.0, the
recipe's ~2.0.

    python benchmarks/bench_activations_memory.py
    python benchmarks/bench_activations_memory.py --n-stimuli 4000 --batch-size 256
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import torch

from v1ann.nn.activations import activations
from v1ann.nn.models import cnn


def concatenate_recipe(model, x, layer: str, batch_size: int) -> np.ndarray:
    chunks = []
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, args, out: chunks.append(out.detach().cpu().numpy().copy()))
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start : start + batch_size])
    finally:
        handle.remove()
    return np.concatenate(chunks).reshape(len(x), -1)


def measure(label: str, func):
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return label, result, peak, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stimuli", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = cnn().eval()
    x = torch.rand(args.n_stimuli, 1, 28, 28)
    # warm-up: lazy imports and torch's first-call setup are not what is measured
    activations(model, x[:8], layers="pool1", device="cpu", progress=False)
    concatenate_recipe(model, x[:8], "pool1", 8)
    runs = [
        measure("v1ann", lambda: activations(model, x, layers="pool1", batch_size=args.batch_size,
                                             device="cpu", progress=False)["pool1"].values),
        measure("concatenate", lambda: concatenate_recipe(model, x, "pool1", args.batch_size)),
    ]
    size = runs[0][1].nbytes
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-6, atol=1e-6)
    print(f"pool1 of cnn(): {args.n_stimuli} stimuli x {runs[0][1].shape[1]} units = {size / 2**20:.0f} MiB")
    print(f"{'method':<12} {'peak MiB':>9} {'peak/result':>12} {'seconds':>8}")
    for label, _, peak, seconds in runs:
        print(f"{label:<12} {peak / 2**20:>9.0f} {peak / size:>12.2f} {seconds:>8.2f}")
    print(f"memory ratio concatenate / v1ann: {runs[1][2] / runs[0][2]:.2f}")


if __name__ == "__main__":
    main()
