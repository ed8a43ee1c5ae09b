"""Linear datamodeling score (LDS, Park et al. 2023) of attribution methods on a net (issue 18).

An MLP on scikit-learn's digits (64-32-10, ReLU, a skorch net through the torch adapter),
trained briefly with Adam and weight decay; attributions of each method for the test rows,
then :func:`skinfluence.metrics.linear_datamodeling_score`: ``--n-subsets`` nets retrained
on random halves of the training rows (independent seeds, as the paper), the same subset
models for every method (one retraining for the table).

Methods (the ``METHODS`` dict; each takes the context ``ctx`` and returns the
(n_test, n_train) attributions in skinfluence's sign):

- identity: the gradient dot product at the trained net (TracIn with one checkpoint);
- tracin-cp: TracInCP over ``--checkpoints`` checkpoints saved during training;
- cg: ``InfluenceScorer(method="cg")`` on the Gauss–Newton curvature, default damping;
- ekfac: ``InfluenceScorer(method="ekfac")``, default damping;
- trak-1, trak-5, trak-10: ``TRAKScorer`` (Park et al. 2023) at its defaults over 1, 5 and 10
  nets trained from their own seeds (the projection ensemble of issue 18 §3); trak-gn-1,
  trak-gn-5: the same with ``kernel="gauss-newton"`` (projected loss gradients and
  Gauss–Newton matrix).

Add a method by adding an entry to ``METHODS`` (e.g. the projection ensemble of TRAK:
``ctx.make_net(seed)`` builds an unfitted net like the benchmark's, ``ctx.fit_net(seed)``
trains one on the training rows).

    python benchmarks/bench_lds.py [--n-train 500] [--n-test 100] [--n-subsets 50] [--epochs 40]
        [--ceiling]  (the seed-noise ceiling: as many fits again)
"""

import argparse
import time
import warnings

import numpy as np
import skorch
import torch
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch
from torch import nn

from skinfluence import InfluenceScorer, TracInScorer, TRAKScorer
from skinfluence.metrics import _rowwise_spearman, linear_datamodeling_score


class MLP(nn.Module):
    def __init__(self, d=64, h=32, k=10):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, h), nn.Linear(h, k)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class SeededNet(skorch.NeuralNetClassifier):
    """A skorch classifier seeded by ``random_state`` (a forked torch generator), so that the
    LDS engine gives every subset model its own reproducible seed."""

    def __init__(self, *args, random_state=0, seed_offset=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_state = random_state
        self.seed_offset = seed_offset  # a second run of the same subsets: another seed

    def fit(self, X, y, **fit_params):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state + self.seed_offset)
            return super().fit(X, y, **fit_params)


class Snapshots(skorch.callbacks.Callback):
    """Keep a copy of the module's state dict every ``every`` epochs (TracInCP)."""

    def __init__(self, every):
        self.every = every

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) % self.every == 0:
            self.states_.append(
                {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
            )


def make_data(n_train, n_test, seed=0):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=n_train, test_size=n_test, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    f32 = np.float32
    return (
        scaler.transform(X_train).astype(f32),
        y_train,
        scaler.transform(X_test).astype(f32),
        y_test,
    )


def make_net(epochs, seed=0, callbacks=None, seed_offset=0):
    return SeededNet(
        MLP,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        optimizer__weight_decay=1e-3,
        max_epochs=epochs,
        batch_size=64,
        train_split=None,
        iterator_train__shuffle=True,
        callbacks=callbacks,
        verbose=0,
        random_state=seed,
        seed_offset=seed_offset,
    )


def identity(ctx):
    scorer = InfluenceScorer(FrozenEstimator(ctx.net), method="identity").fit(ctx.X, ctx.y)
    return scorer.influence(ctx.X_test, ctx.y_test)


def tracin_cp(ctx):
    scorer = TracInScorer(FrozenEstimator(ctx.net), checkpoints=ctx.checkpoints)
    return scorer.fit(ctx.X, ctx.y).influence(ctx.X_test, ctx.y_test)


def cg(ctx):
    scorer = InfluenceScorer(FrozenEstimator(ctx.net), method="cg").fit(ctx.X, ctx.y)
    return scorer.influence(ctx.X_test, ctx.y_test)


def ekfac(ctx):
    scorer = InfluenceScorer(FrozenEstimator(ctx.net), method="ekfac").fit(ctx.X, ctx.y)
    return scorer.influence(ctx.X_test, ctx.y_test)


def trak(n_models, kernel="trak"):
    """TRAKScorer at its defaults (k = 2048, damping "auto") over ``n_models`` nets trained
    from their own seeds (the first is the benchmark's net's seed)."""

    def attribute(ctx):
        scorer = TRAKScorer(
            ctx.make_net(ctx.seed), n_models=n_models, kernel=kernel, random_state=ctx.seed
        )
        return scorer.fit(ctx.X, ctx.y).influence(ctx.X_test, ctx.y_test)

    return attribute


# name -> function(ctx) returning (n_test, n_train) attributions, positive = the row helps.
METHODS = {
    "identity (TracIn, last checkpoint)": identity,
    "tracin-cp": tracin_cp,
    "cg (Gauss-Newton)": cg,
    "ekfac": ekfac,
    "trak-1": trak(1),
    "trak-5": trak(5),
    "trak-10": trak(10),
    "trak-gn-1": trak(1, kernel="gauss-newton"),
    "trak-gn-5": trak(5, kernel="gauss-newton"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--n-subsets", type=int, default=50)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--methods", nargs="*", default=None, help="subset of METHODS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="retrain the same subsets with other seeds: the seed-noise ceiling of the LDS",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, X_test, y_test = make_data(args.n_train, args.n_test, args.seed)
    every = max(1, args.epochs // args.checkpoints)
    snapshots = Snapshots(every)
    start = time.perf_counter()
    net = make_net(args.epochs, args.seed, callbacks=[snapshots]).fit(X, y)
    fit_time = time.perf_counter() - start
    accuracy = (net.predict(X_test) == y_test).mean()
    print(
        f"net 64-32-10 on digits ({args.n_train} train, {args.n_test} test rows), "
        f"{args.epochs} epochs: test accuracy {accuracy:.3f}, one fit {fit_time:.2f} s"
    )
    ctx = Bunch(
        net=net, X=X, y=y, X_test=X_test, y_test=y_test, seed=args.seed,
        checkpoints=snapshots.states_, make_net=lambda seed: make_net(args.epochs, seed),
        fit_net=lambda seed: make_net(args.epochs, seed).fit(X, y),
    )  # fmt: skip
    names = args.methods or list(METHODS)
    attributions, times = {}, {}
    for name in names:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            attributions[name] = METHODS[name](ctx)
        times[name] = time.perf_counter() - start
        for w in {str(w.message)[:120] for w in caught}:
            print(f"  {name}: warning: {w}")
    start = time.perf_counter()
    result = linear_datamodeling_score(
        attributions, make_net(args.epochs), X, y, X_test, y_test, alpha=args.alpha,
        n_subsets=args.n_subsets, random_state=args.seed, return_details=True,
    )  # fmt: skip
    lds_time = time.perf_counter() - start
    per_fit = lds_time / args.n_subsets
    print(
        f"\nLDS: {args.n_subsets} subsets of alpha = {args.alpha}, target loss; retraining "
        f"{lds_time:.0f} s ({per_fit:.1f} s per subset model)\n"
    )
    print("| method | LDS | ± s.e. (over test rows) | attribution time / subset fit |")
    print("|---|---|---|---|")
    for name in names:
        r = result[name]
        print(f"| {name} | {r.score:.3f} | {_sem(r.per_test):.3f} | {times[name] / per_fit:.1f} |")
    if args.ceiling:
        first = next(iter(result.values()))
        again = linear_datamodeling_score(
            attributions[names[0]], make_net(args.epochs, seed_offset=1), X, y, X_test, y_test,
            alpha=args.alpha, n_subsets=args.n_subsets, random_state=args.seed,
            return_details=True,
        )  # fmt: skip
        assert np.array_equal(first.in_subset, again.in_subset)
        # Two runs of each subset model with independent seeds: the part of the actual
        # outputs that the subset determines. A predictor that depends on the subset only
        # correlates at most about sqrt(reliability) with one run.
        reliability = _rowwise_spearman(first.actual, again.actual)
        print(
            f"\nseed noise: Spearman between two seeds' outputs on the same subsets, mean over "
            f"test rows {np.nanmean(reliability):.3f} ± {_sem(reliability):.3f}; ceiling "
            f"sqrt ≈ {np.nanmean(np.sqrt(np.clip(reliability, 0, None))):.3f}"
        )


def _sem(values):
    values = values[np.isfinite(values)]
    return values.std(ddof=1) / np.sqrt(len(values))


if __name__ == "__main__":
    main()
