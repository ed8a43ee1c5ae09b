"""TRAK (issue 18 §3) on an MLP on digits: linear datamodeling score (LDS) with 1, 5 and 10
models, next to TracIn / identity and the projected Gauss–Newton kernel.

Digits (scikit-learn's 8 × 8 images, standardised), ``--n-train`` training rows and
``--n-test`` test rows. ``--model sklearn``: ``MLPClassifier(hidden_layer_sizes=(64,),
alpha=1e-2, max_iter=300)`` (Adam), 4 810 parameters; ``--model skorch``: the same shape in
torch (ReLU, Adam lr 1e-2, weight decay 1e-3, 60 epochs of batches of 64), which also gets the
projected Gauss–Newton kernel. The LDS (``skinfluence.metrics.linear_datamodeling_score``,
Park et al. 2023) retrains the MLP on ``--n-subsets`` random halves of the training set (a
new seed each) and correlates each test row's margin over the subsets with the sum of the
attributions of the rows in each subset (Spearman, mean over test rows). The subset models
are fitted once and shared by every method (the attributions are stacked).

    python benchmarks/bench_trak_lds.py [--n-train 500] [--n-test 100] [--n-subsets 50]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier
from torch import nn

from skinfluence import InfluenceScorer, TRAKScorer
from skinfluence.metrics import linear_datamodeling_score
from skinfluence.models import adapter_for


def make_data(n_train, n_test, seed=0):
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = StandardScaler().fit_transform(X)[order], y[order]
    return X[:n_train], y[:n_train], X[n_train : n_train + n_test], y[n_train : n_train + n_test]


class TorchMLP(nn.Module):
    def __init__(self, d=64, h=64, k=10):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, h), nn.Linear(h, k)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


MODEL = {"kind": "sklearn"}


def make_mlp():
    if MODEL["kind"] == "sklearn":
        return MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-2, max_iter=300, random_state=0)
    return NeuralNetClassifier(
        TorchMLP,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        optimizer__weight_decay=1e-3,
        lr=1e-2,
        max_epochs=60,
        batch_size=64,
        train_split=None,
        verbose=0,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--n-subsets", type=int, default=50)
    parser.add_argument("--projection-dim", type=int, default=2048)
    parser.add_argument("--models", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--model", choices=["sklearn", "skorch"], default="sklearn")
    args = parser.parse_args()
    MODEL["kind"] = args.model
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y, X_test, y_test = make_data(args.n_train, args.n_test)
    if args.model == "skorch":
        X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    mlp = make_mlp()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    fitted = mlp.fit(X, y)
    unit = time.perf_counter() - t0
    p = adapter_for(fitted).n_params
    print(
        f"digits: {len(y)} train / {len(y_test)} test, {args.model} MLP 64-64-10, p = {p}, "
        f"test accuracy {fitted.score(X_test, y_test):.3f}, one fit {unit:.2f} s"
    )

    methods = {
        "identity (TracIn, one checkpoint)": lambda: InfluenceScorer(
            FrozenEstimator(fitted), method="identity"
        ),
    }
    for m in args.models:
        methods[f"TRAK, {m} model{'s' if m > 1 else ''}"] = lambda m=m: TRAKScorer(
            make_mlp(),
            projection_dim=args.projection_dim,
            n_models=m,
            random_state=0,
            n_jobs=args.n_jobs,
        )
    if args.model == "skorch":  # scikit-learn's MLP adapter has no Gauss–Newton matrix
        methods["TRAK gauss-newton kernel, 1 model"] = lambda: TRAKScorer(
            make_mlp(), projection_dim=args.projection_dim, kernel="gauss-newton", random_state=0
        )

    attributions, times = {}, {}
    for name, make in methods.items():
        t0 = time.perf_counter()
        scorer = make().fit(X, y)
        attributions[name] = scorer.influence(X_test, y_test)
        times[name] = time.perf_counter() - t0
        print(f"  {name}: {times[name]:.1f} s = {times[name] / unit:.0f} fits", flush=True)

    print(f"LDS: {args.n_subsets} subsets of {args.n_train // 2} rows (alpha = 0.5)")
    t0 = time.perf_counter()
    names = list(attributions)
    # One retraining for every method: the LDS of stacked attributions, split per method.
    stacked = np.vstack([attributions[n] for n in names])
    X_rep = np.vstack([X_test] * len(names))
    y_rep = np.concatenate([y_test] * len(names))
    details = linear_datamodeling_score(
        stacked,
        mlp,
        X,
        y,
        X_rep,
        y_rep,
        n_subsets=args.n_subsets,
        target="margin",
        return_details=True,
        random_state=0,
        n_jobs=args.n_jobs,
    )
    print(f"  retraining: {time.perf_counter() - t0:.1f} s")
    m = len(y_test)
    print("\n| attribution | LDS (margin) | ± s.e. | time (fits of the MLP) |")
    print("|---|---|---|---|")
    for j, name in enumerate(names):
        per_test = details.per_test[j * m : (j + 1) * m]
        se = np.nanstd(per_test) / np.sqrt(np.isfinite(per_test).sum())
        print(f"| {name} | {np.nanmean(per_test):.3f} | {se:.3f} | {times[name] / unit:.0f} |")


if __name__ == "__main__":
    main()
