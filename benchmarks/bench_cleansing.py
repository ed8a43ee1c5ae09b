"""Data cleansing with turn-over dropout (Kobayashi et al. 2020), and mislabel detection.

Usage: python benchmarks/bench_cleansing.py [--seeds 5] [--epochs 30] [--quick]

For each seed, digits (1797 × 64) is split into 1000 training, 300 validation and 497 test
rows; optionally 10 % of the training labels are flipped. One TurnOverDropoutScorer run on an
MLP (64-256-10, dropout 0.5 after the hidden layer) gives every training row's influence on
the validation set's total loss. The rows with the most negative influence (most harmful)
are removed, 1 % and 5 % of them, and a plain MLP (ordinary dropout) is retrained; its test
accuracy is compared with no removal and with removing as many random rows. The retrained
nets of one seed share their initialisation and batch order, so differences come from the
data. Also printed: how well self-influence finds the flipped rows (AUPRC), beside
InfluenceScorer's on the last layer of an ordinarily trained MLP.
"""

import argparse
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from skinfluence import InfluenceScorer, TurnOverDropoutScorer
from skinfluence.datasets import flip_labels
from skinfluence.metrics import detection_scores
from skinfluence.models import ParameterSubset
from skinfluence.torch import dropout_mlp

HIDDEN = (256,)


def plain_mlp(seed, epochs):
    torch.manual_seed(seed)
    return NeuralNetClassifier(
        dropout_mlp(64, 10, hidden=HIDDEN),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=64,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )


def turnover_net(epochs):
    """The net TurnOverDropoutScorer trains: the plain MLP's settings, sized through skorch's
    ``module__`` parameters (the scorer wraps the module and seeds torch itself)."""
    return NeuralNetClassifier(
        dropout_mlp,
        module__n_features=64,
        module__n_classes=10,
        module__hidden=HIDDEN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=64,
        iterator_train__shuffle=True,
        verbose=0,
    )


def retrained_accuracy(X, y, keep, X_test, y_test, seed, epochs):
    net = plain_mlp(seed, epochs).fit(X[keep].astype(np.float32), y[keep].astype(np.int64))
    return float(np.mean(net.predict(X_test.astype(np.float32)) == y_test)), net


def last_layer_influence(net, X, y, X_val, y_val):
    """InfluenceScorer on the last layer of a plain MLP (exact Hessian): self-influence and
    influence on the validation set's total loss."""
    last = str(len(net.module_) - 1)
    scorer = InfluenceScorer(ParameterSubset(FrozenEstimator(net), params=[last]), damping=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scorer.fit(X.astype(np.float32), y.astype(np.int64))
        on_val = scorer.influence(X_val.astype(np.float32), y_val.astype(np.int64), aggregate="sum")
    return scorer.scores_, on_val


def one_seed(seed, noise, epochs, fractions):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=497, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=300, stratify=y_rest, random_state=seed
    )
    flipped = np.zeros(len(y_train), dtype=bool)
    if noise:
        y_train, flipped = flip_labels(y_train, noise, random_state=seed)
    start = time.perf_counter()
    tod = TurnOverDropoutScorer(turnover_net(epochs), random_state=seed).fit(X_train, y_train)
    on_val = tod.influence(X_val, y_val, aggregate="sum")
    t_tod = time.perf_counter() - start
    rng = np.random.RandomState(1000 + seed)
    n = len(y_train)
    row = {}
    row["none"], net = retrained_accuracy(
        X_train, y_train, np.arange(n), X_test, y_test, seed, epochs
    )
    if_self, if_val = last_layer_influence(net, X_train, y_train, X_val, y_val)
    for frac in fractions:
        k = round(frac * n)
        harmful = np.argsort(on_val)[:k]  # most negative influence on the validation loss
        keep = np.setdiff1d(np.arange(n), harmful)
        row[f"cleansed {frac:.0%}"] = retrained_accuracy(
            X_train, y_train, keep, X_test, y_test, seed, epochs
        )[0]
        keep = np.sort(rng.choice(n, size=n - k, replace=False))
        row[f"random {frac:.0%}"] = retrained_accuracy(
            X_train, y_train, keep, X_test, y_test, seed, epochs
        )[0]
        # Removing the rows with the largest self-influence instead (no validation set).
        suspect = np.argsort(-tod.scores_)[:k]
        keep = np.setdiff1d(np.arange(n), suspect)
        row[f"self-influence cleansed {frac:.0%}"] = retrained_accuracy(
            X_train, y_train, keep, X_test, y_test, seed, epochs
        )[0]
        # The same cleansing with InfluenceScorer on the plain MLP's last layer.
        if_harmful = np.argsort(if_val)[:k]
        keep = np.setdiff1d(np.arange(n), if_harmful)
        row[f"InfluenceScorer cleansed {frac:.0%}"] = retrained_accuracy(
            X_train, y_train, keep, X_test, y_test, seed, epochs
        )[0]
        if noise:
            row[f"flipped among removed {frac:.0%}"] = flipped[harmful].mean()
            row[f"flipped among removed by InfluenceScorer {frac:.0%}"] = flipped[if_harmful].mean()
            row[f"flipped among removed by self-influence {frac:.0%}"] = flipped[suspect].mean()
    if noise:
        row["AUPRC turn-over self-influence"] = detection_scores(flipped, tod.scores_).auprc
        row["AUPRC InfluenceScorer (last layer)"] = detection_scores(flipped, if_self).auprc
    row["turn-over fit + influence s"] = t_tod
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 5 epochs (smoke test)")
    args = parser.parse_args()
    seeds, epochs = (2, 5) if args.quick else (args.seeds, args.epochs)
    torch.set_num_threads(1)
    for noise in args.noise:
        rows = []
        for seed in range(seeds):
            rows.append(one_seed(seed, noise, epochs, (0.01, 0.05)))
            print(f"noise {noise}, seed {seed}: {rows[-1]}", file=sys.stderr, flush=True)
        print(
            f"\n### digits, {noise:.0%} flipped training labels: MLP test accuracy (%) "
            f"after removing rows, mean ± std over {seeds} seeds, {epochs} epochs\n"
        )
        print("| | mean ± std |")
        print("|---|---|")
        for key in rows[0]:
            values = np.array([r[key] for r in rows], dtype=float)
            accuracy = "cleansed" in key or "random" in key or key == "none"
            scale = 100 if accuracy else 1
            print(
                f"| {key} | {scale * values.mean():.2f} ± {scale * values.std():.2f} |", flush=True
            )


if __name__ == "__main__":
    main()
