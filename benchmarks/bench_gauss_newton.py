"""Curvature and solvers for a net (issue 18): Gauss–Newton vs exact Hessian, every solver
at its defaults against ``direct`` on the same curvature, K-FAC / EK-FAC against the dense
Gauss–Newton solve, and influence against actual leave-one-out retraining.

The net is the issue's: 7-class synthetic tabular data (500 training rows, 18 features), a
skorch MLP 18-32-7 with tanh, Adam (lr 0.01, weight decay 1e-3, batches of 128, 400 epochs;
839 parameters). Leave-one-out ground truth: from the trained weights (warm start, fixed
seed), full-batch L-BFGS on the training objective (mean loss + wd/2 ‖θ‖²) for
``--lbfgs-iter`` iterations with and without each of ``--n-removed`` random rows; the
actual effect on the summed test loss is the difference of the two refits (so that the
drift of the continued training cancels), against ``influence(..., aggregate="sum")``.

    python benchmarks/bench_gauss_newton.py [--epochs 400] [--n-removed 40]
"""

import argparse
import time
import warnings

import numpy as np
import skorch
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import StandardScaler
from torch import nn

from skinfluence import InfluenceScorer
from skinfluence.inverse import make_solver
from skinfluence.models import TorchModule, adapter_for, with_curvature


class MLP(nn.Module):
    def __init__(self, d=18, h=32, k=7):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, h), nn.Linear(h, k)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def make_data(n=500, m=200, seed=0):
    X, y = make_classification(
        n + m, 18, n_informative=12, n_classes=7, n_clusters_per_class=1, random_state=seed
    )
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def train(X, y, epochs, seed=0):
    torch.manual_seed(seed)
    return skorch.NeuralNetClassifier(
        MLP,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        optimizer__weight_decay=1e-3,
        max_epochs=epochs,
        batch_size=128,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    ).fit(X, y)


def refit(state, X, y, iters, wd=1e-3, seed=0):
    """Full-batch L-BFGS from ``state`` on mean loss + wd/2 ‖θ‖² (float64)."""
    torch.manual_seed(seed)
    module = MLP().double()
    module.load_state_dict({k: v.double() for k, v in state.items()})
    Xt, yt = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y)
    optimizer = torch.optim.LBFGS(
        module.parameters(), max_iter=iters, tolerance_grad=1e-10, tolerance_change=1e-14,
        history_size=50, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(module(Xt), yt)
        loss = loss + wd / 2 * sum((p**2).sum() for p in module.parameters())
        loss.backward()
        return loss

    optimizer.step(closure)
    return module


def test_loss(module, X, y):
    with torch.no_grad():
        out = module(torch.as_tensor(X, dtype=torch.float64))
        return float(nn.functional.cross_entropy(out, torch.as_tensor(y), reduction="sum"))


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def solvers_table(net, X, y, Xte, yte):
    adapter = adapter_for(net)
    G_train = adapter.gradients(X, y)
    V = adapter.gradients(Xte[:30], yte[:30]).dense_rows(slice(None)).T
    print(f"\n## Solvers at their defaults against direct (p = {adapter.n_params}, 30 test rows)")
    print("| curvature | method | damping | Pearson vs direct | time (s) | warnings |")
    print("|---|---|---|---|---|---|")
    for hessian in ("gauss-newton", "exact"):
        curvature = with_curvature(adapter, hessian)
        ref = None
        methods = ["direct", "cg", "arnoldi", "lissa"]
        methods += ["kfac", "ekfac"] if hessian == "gauss-newton" else []
        for method in methods:
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    solver = make_solver(method, damping="auto").fit(curvature, X, y)
                    infl = G_train.matmul(solver.solve(V))
                except FloatingPointError as error:  # LiSSA on an indefinite H
                    print(f"| {hessian} | {method} | - | {type(error).__name__} | - | - |")
                    continue
            elapsed = time.perf_counter() - start
            ref = infl if ref is None else ref
            names = sorted({type(w.message).__name__ for w in caught})
            print(
                f"| {hessian} | {method} | {solver.damping_:.3g} | {pearson(infl, ref):.4f} | "
                f"{elapsed:.1f} | {', '.join(names) or '-'} |"
            )


def leave_one_out_table(net, X, y, Xte, yte, n_removed, iters):
    """Two protocols: influence at the Adam weights (the user's call) against refits from
    them, and influence at the minimum L-BFGS reaches from them against refits from it."""
    state = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
    rows = np.random.default_rng(0).choice(len(y), n_removed, replace=False)
    minimum = refit(state, X, y, 5 * iters)
    at_minimum = {k: v.detach().clone() for k, v in minimum.state_dict().items()}
    model = TorchModule(minimum, nn.CrossEntropyLoss(), classes=np.arange(7), weight_decay=1e-3)
    for where, start, estimator in (
        ("Adam weights", state, FrozenEstimator(net)),
        ("L-BFGS minimum", at_minimum, FrozenEstimator(model)),
    ):
        full = test_loss(refit(start, X, y, iters), Xte, yte)
        actual = np.array(
            [test_loss(refit(start, np.delete(X, i, 0), np.delete(y, i), iters), Xte, yte)
             - full for i in rows]
        )  # fmt: skip
        print(f"\n## Influence at the {where} on the summed test loss vs leave-one-out "
              f"({n_removed} rows, L-BFGS {iters} iterations from there)")  # fmt: skip
        print("| curvature | damping | Pearson | Spearman | warnings |")
        print("|---|---|---|---|---|")
        for hessian, damping in (("gauss-newton", "auto"), ("exact", "auto"), ("exact", 0.0)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                scorer = InfluenceScorer(
                    estimator, method="direct", hessian=hessian, damping=damping
                ).fit(X, y)
                predicted = scorer.influence(Xte, yte, aggregate="sum")[rows]
            names = sorted({type(w.message).__name__ for w in caught})
            print(
                f"| {hessian} | {scorer.damping_:.3g} | {pearsonr(predicted, actual)[0]:.3f} | "
                f"{spearmanr(predicted, actual)[0]:.3f} | {', '.join(names) or '-'} |"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--n-removed", type=int, default=40)
    parser.add_argument("--lbfgs-iter", type=int, default=300)
    parser.add_argument("--skip-solvers", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, Xte, yte = make_data()
    net = train(X, y, args.epochs)
    print(f"net trained {args.epochs} epochs: test accuracy {(net.predict(Xte) == yte).mean():.3f}")
    if not args.skip_solvers:
        solvers_table(net, X, y, Xte, yte)
    leave_one_out_table(net, X, y, Xte, yte, args.n_removed, args.lbfgs_iter)


if __name__ == "__main__":
    main()
