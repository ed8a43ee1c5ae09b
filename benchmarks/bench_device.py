"""The device path (issue 18 §5): every solver on the issue's net, on the CPU and on a GPU.

The net is the issue's (``bench_gauss_newton``: 7 classes, 500 training rows, 18 features,
MLP 18-32-7 with tanh, Adam with weight decay 1e-3; 839 parameters), wrapped as a
``TorchModule`` on each device. For every method (``direct``, ``cg``, ``lissa``, ``arnoldi``,
``ekfac``; default settings, Gauss–Newton curvature) it times ``fit`` and
``influence(X_test)`` (n_test × 500), and reports the agreement (Pearson) of the influence
with ``direct`` on the same device and, on a GPU, with the same method on the CPU. On the
CPU it also times the host (numpy) path the solvers took before the device path, in the same
process, as a ratio (``host/device``): what the torch backend costs or saves where there is
no GPU.

    python benchmarks/bench_device.py [--epochs 400] [--n-test 200] [--devices cpu cuda]
        [--methods direct cg lissa arnoldi ekfac] [--repeats 1]

A device that is not available (``cuda`` without ``torch.cuda.is_available()``) is skipped
with a note. Times are wall-clock seconds, the best of ``--repeats`` runs.
"""

import argparse
import contextlib
import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gauss_newton import make_data, train

from skinfluence import InfluenceScorer
from skinfluence.models import TorchAdapter, TorchModule


@contextlib.contextmanager
def host_path():
    """The solvers' numpy path for torch models (products copied to the host)."""
    saved = TorchAdapter.array_backend
    TorchAdapter.array_backend = property(lambda self: None)
    try:
        yield
    finally:
        TorchAdapter.array_backend = saved


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run(model, method, X, y, X_test, y_test, device, repeats):
    """(fit seconds, influence seconds, influence) of the best of ``repeats`` runs."""
    best_fit = best_inf = np.inf
    influence = None
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _sync(device)
            start = time.perf_counter()
            scorer = InfluenceScorer(model, method=method).fit(X, y)
            _sync(device)
            middle = time.perf_counter()
            influence = scorer.influence(X_test, y_test)
            _sync(device)
            end = time.perf_counter()
        best_fit, best_inf = min(best_fit, middle - start), min(best_inf, end - middle)
    return best_fit, best_inf, influence


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument(
        "--methods", nargs="+", default=["direct", "cg", "lissa", "arnoldi", "ekfac"]
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-host", action="store_true", help="skip the host-path timings")
    args = parser.parse_args()

    X, y, X_test, y_test = make_data()
    X_test, y_test = X_test[: args.n_test], y_test[: args.n_test]
    start = time.perf_counter()
    net = train(X, y, args.epochs)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.1f} s")
    classes = np.asarray(net.classes_)

    results = {}
    for device in args.devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device}: not available (torch.cuda.is_available() is False); skipped")
            continue
        module = copy.deepcopy(net.module_).to(device)
        model = TorchModule(module, torch.nn.CrossEntropyLoss(), classes=classes, weight_decay=1e-3)
        name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
        print(f"\n{device} ({name}), torch {torch.__version__}")
        reference = None
        for method in args.methods:
            fit_s, inf_s, influence = run(model, method, X, y, X_test, y_test, device, args.repeats)
            if method == "direct":
                reference = influence
            row = {"fit": fit_s, "influence": inf_s, "values": influence}
            row["vs_direct"] = None if reference is None else pearson(influence, reference)
            if device == "cpu" and not args.no_host:
                with host_path():
                    host_fit, host_inf, host_values = run(
                        model, method, X, y, X_test, y_test, device, args.repeats
                    )
                row["host"] = (host_fit + host_inf) / (fit_s + inf_s)
                row["host_diff"] = float(
                    np.abs(host_values - influence).max() / np.abs(host_values).max()
                )
            cpu = results.get(("cpu", method))
            if cpu is not None and device != "cpu":
                row["vs_cpu"] = pearson(influence, cpu["values"])
                row["speedup"] = (cpu["fit"] + cpu["influence"]) / (fit_s + inf_s)
            results[(device, method)] = row
            print(f"  {method}: fit {fit_s:.2f} s, influence {inf_s:.2f} s", flush=True)

    print(
        f"\n| device | method | fit (s) | influence {args.n_test}×500 (s) | Pearson vs direct "
        "| host path / device path (time) | max rel. diff vs host path | speed-up vs cpu "
        "| Pearson vs cpu |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (device, method), row in results.items():
        cells = [
            device,
            method,
            f"{row['fit']:.2f}",
            f"{row['influence']:.2f}",
            "—" if row["vs_direct"] is None else f"{row['vs_direct']:.4f}",
            f"{row['host']:.2f}" if "host" in row else "—",
            f"{row['host_diff']:.1e}" if "host_diff" in row else "—",
            f"{row['speedup']:.1f}×" if "speedup" in row else "—",
            f"{row['vs_cpu']:.6f}" if "vs_cpu" in row else "—",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
