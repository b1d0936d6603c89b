"""Time per training step of the spectral regularizer, side by side (issue 5, point 5).

MLP 784-2000-10 (tanh), batch 1024, Adam, MNIST-shaped inputs. Rows:

vanilla          cross-entropy only
floor            vanilla + the projection of the activations onto the eigenbasis, forward and
                 backward (one extra batch×width×width product, nothing else): the cost floor
floor K=512      the same onto the top 512 basis vectors (batch×width×512): the floor of K=512
published loop   Nassar et al.'s eigen_val_regulate: batch covariance, diag(Vᵀ C V), then a Python
                 loop over the eigenvalues building the loss term by term
nassar2020       SpectralRegularizer(method="nassar2020"): the same loss, vectorised, all ranks
loglog K=all     SpectralRegularizer(n_components="all"): v1ann's penalty over all ranks
loglog K=512     SpectralRegularizer(n_components=512)
gerum2022        SpectralRegularizer(method="gerum2022"): an exact eigendecomposition per batch

Usage: python benchmarks/bench_regularizer.py [--steps 10] [--device cpu|cuda|all] [--threads N]
Targets (issue 24): a regularized step ≤ 3× vanilla at full rank, ≤ 1.5× at n_components=512.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from v1ann.nn.models import mlp
from v1ann.nn.regularizer import SpectralRegularizer

WIDTH, BATCH, START, ALPHA = 2000, 1024, 10, 1.0
OPTIONS = {"nassar2020": {"method": "nassar2020"}, "loglog K=all": {"n_components": "all"},
           "loglog K=512": {"n_components": 512}, "gerum2022": {"method": "gerum2022"}}


def published_loop_penalty(hidden: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Nassar et al. (2020) style: full covariance, diag(VᵀCV), a Python loop over ranks."""
    centred = hidden - hidden.mean(0)
    cov = centred.T @ centred / (hidden.shape[0] - 1)
    cov = (cov + cov.T) / 2
    eigs = torch.sort(torch.diag(basis.T @ cov @ basis), descending=True).values
    with torch.no_grad():
        beta = eigs[START] * (START + 1) ** ALPHA
    total = torch.zeros(1, device=hidden.device)
    for n in range(START + 1, eigs.shape[0]):
        if eigs[n] > 0:
            ratio = eigs[n] / (beta / (n + 1) ** ALPHA)
            total = total + (ratio - 1) ** 2 + torch.relu(ratio - 1)
    return total / hidden.shape[1]


def make_step(kind: str, device: torch.device, x: torch.Tensor, y: torch.Tensor):
    torch.manual_seed(0)
    model = mlp(hidden=(WIDTH,), activation="tanh").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    reg = None
    if kind in OPTIONS:
        reg = SpectralRegularizer(ALPHA, **OPTIONS[kind]).attach(model)
        reg.update_basis(model, x)
    captured = {}
    if kind.startswith("floor") or kind == "published loop":
        model.act1.register_forward_hook(lambda module, inputs, output: captured.__setitem__("h", output))
        with torch.no_grad():
            h = model.act1(model.fc1(model.flatten(model.normalize(x))))
            c = torch.cov(h.T.double())
            basis = torch.linalg.eigh(c).eigenvectors.flip(1).float()
        if kind == "floor K=512":
            basis = basis[:, :512].contiguous()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if reg is not None:
            loss = loss + reg()
        elif kind.startswith("floor"):
            h = captured["h"]
            loss = loss + 0.0 * (h @ basis).pow(2).sum()
        elif kind == "published loop":
            loss = loss + published_loop_penalty(captured["h"], basis)[0]
        loss.backward()
        opt.step()

    return step


def time_steps(step, device: torch.device, n_steps: int) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):  # warm-up: allocator, kernels, lazy init
        step()
    sync()
    times = []
    for _ in range(n_steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(device: torch.device, n_steps: int, loop_steps: int) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, 10, (BATCH,), generator=gen).to(device)
    kinds = ["vanilla", "floor", "published loop", "nassar2020", "loglog K=all", "floor K=512", "loglog K=512",
             "gerum2022"]
    # Interleave repeats so that load from other processes hits every row alike.
    steps = {kind: make_step(kind, device, x, y) for kind in kinds}
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(3):
        for kind in kinds:
            timings[kind].append(time_steps(steps[kind], device, loop_steps if kind == "published loop" else n_steps))
    median = {kind: statistics.median(values) for kind, values in timings.items()}
    threads = torch.get_num_threads() if device.type == "cpu" else "-"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} threads"
    print(f"\nMLP 784-{WIDTH}-10 tanh, batch {BATCH}, Adam; {name}")
    print(f"{'step':<17}{'ms/step':>10}{'× vanilla':>11}{'× floor':>9}{'loop ÷ this':>13}")
    for kind in kinds:
        t = median[kind]
        print(
            f"{kind:<17}{1e3 * t:>10.1f}{t / median['vanilla']:>11.2f}{t / median['floor']:>9.2f}"
            f"{median['published loop'] / t:>13.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat (3 repeats)")
    parser.add_argument("--loop-steps", type=int, default=3, help="timed steps of the slow loop per repeat")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    for device in devices:
        run(device, args.steps, args.loop_steps)


if __name__ == "__main__":
    main()
