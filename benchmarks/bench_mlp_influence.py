"""scikit-learn's own nets: influence against actual leave-one-out retraining.

Usage: python benchmarks/bench_mlp_influence.py [--quick]

For small tanh nets (one hidden layer of 8 units) on iris (classification) and diabetes
(regression), fitted with L-BFGS, and one fitted with adam (a penalty share per row), prints
the Pearson correlation over all (test row, removed row) pairs between first-order influence
(``InfluenceScorer(method="direct")`` at the full-data net, damping 0 and 0.01·n) and three
leave-one-out ground truths:

* ``cold``: ``LeaveOneOutScorer(warm_start=False)``, scikit-learn refitting from its random
  initialisation with ``tol=1e-10`` (what a user gets);
* ``warm``: ``LeaveOneOutScorer(warm_start=True)``, refits started from the full-data weights
  (``warm_start=True`` on the net), scikit-learn's solver as it is;
* ``warm+polished``: the same, each L-BFGS refit continued with scipy at ``ftol=0`` on
  scikit-learn's own loss and gradient (scikit-learn's L-BFGS stops on a relative decrease of
  2.2e-9, a gradient of about 1e-5 on these nets): the refit is the minimum of the objective
  without the row in the basin of the fitted net, the honest ground truth for a non-convex net.

Also prints the smallest eigenvalues of the Hessian at the fitted net (the softmax's exact flat
direction excluded) and the rows whose cold refit landed in another minimum.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, load_iris
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import scale

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.models import MLPAdapter, adapter_for, registered_adapter
from skinfluence.models._mlp_examples import polish_lbfgs


class PolishedMLPClassifier(MLPClassifier):
    """L-BFGS fit continued to a stationary point of scikit-learn's objective."""

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            super().fit(X, y, sample_weight=sample_weight)
        return polish_lbfgs(self, X, y, sample_weight, gtol=1e-10)


class PolishedMLPRegressor(MLPRegressor):
    """L-BFGS fit continued to a stationary point of scikit-learn's objective."""

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            super().fit(X, y, sample_weight=sample_weight)
        return polish_lbfgs(self, X, y, sample_weight, gtol=1e-10)


def data(name, n_train, n_test):
    if name == "iris":
        X, y = load_iris(return_X_y=True)
    else:
        X, y = load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
    rows = np.random.RandomState(0).permutation(len(y))[: n_train + n_test]
    X, y = scale(X)[rows], y[rows]
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def pearson(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def leave_one_out(model, X, y, X_test, y_test, warm, refit_tol=1e-10):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = LeaveOneOutScorer(model, warm_start=warm, refit_tol=refit_tol).fit(X, y)
    return loo.influence(X_test, y_test), loo


def hessian_spectrum(net, X, y):
    adapter = adapter_for(net)
    H = adapter.hessian(X, y)
    B = adapter.null_space()
    if B is not None:  # the softmax shift: exactly flat, handled by the solvers
        H = H + 1e6 * (B @ B.T)
    eigenvalues = np.linalg.eigvalsh(H)
    return eigenvalues[:2], eigenvalues[-1]


def influence(net, X, y, X_test, y_test, damping):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scorer = InfluenceScorer(FrozenEstimator(net), method="direct", damping=damping)
        matrix = scorer.fit(X, y).influence(X_test, y_test)
    return matrix, [type(w.message).__name__ for w in caught if "Hessian" in str(w.message)]


def run_lbfgs(name, alpha, n_train, n_test):
    X, y, X_test, y_test = data(name, n_train, n_test)
    classifier = name == "iris"
    params = {
        "hidden_layer_sizes": (8,),
        "activation": "tanh",
        "alpha": alpha,
        "solver": "lbfgs",
        "random_state": 0,
        "tol": 1e-10,
        "max_iter": 10_000,
    }
    plain = (MLPClassifier if classifier else MLPRegressor)(**params)
    polished = (PolishedMLPClassifier if classifier else PolishedMLPRegressor)(**params)
    start = time.perf_counter()
    truths = {}
    truths["cold"], _ = leave_one_out(plain, X, y, X_test, y_test, warm=False)
    truths["warm"], _ = leave_one_out(plain, X, y, X_test, y_test, warm=True)
    with registered_adapter(type(polished), MLPAdapter, name="polished"):
        truths["warm+polished"], loo = leave_one_out(polished, X, y, X_test, y_test, warm=True)
        truths["cold+polished"], cold = leave_one_out(polished, X, y, X_test, y_test, warm=False)
        net = loo.estimator_
        # another minimum: the cold refit's training outputs differ from the warm refit's by
        # more than leaving the row out changes them (in function space: the softmax shift and
        # the intercept of a dead unit move θ without changing the net)
        outputs = [adapter_for(m).loss(X, y) for m in (net, *loo.estimators_, *cold.estimators_)]
        full, warm_out, cold_out = outputs[0], outputs[1 : n_train + 1], outputs[n_train + 1 :]
        far = [
            np.abs(c - w).max() > np.abs(w - full).max()
            for c, w in zip(cold_out, warm_out, strict=True)
        ]
        smallest, largest = hessian_spectrum(net, X, y)
        rows = []
        for damping in (0.0, 0.01 * n_train):
            matrix, warned = influence(net, X, y, X_test, y_test, damping)
            rows.append((damping, {k: pearson(matrix, v) for k, v in truths.items()}, warned))
    seconds = time.perf_counter() - start
    return {
        "setting": f"{name}, α = {alpha:g}",
        "rows": rows,
        "eigenvalues": (smallest, largest),
        "other_minimum": int(np.sum(far)),
        "seconds": seconds,
    }


def run_adam(n_train, n_test):
    """adam, batches of 20: the penalty share α/(2B) per row (no polish: not L-BFGS)."""
    X, y, X_test, y_test = data("iris", n_train, n_test)
    net = MLPClassifier(
        (8,),
        activation="tanh",
        alpha=1.0,
        solver="adam",
        batch_size=20,
        learning_rate_init=0.01,
        max_iter=1000,
        tol=1e-10,
        n_iter_no_change=1000,
        random_state=0,
    )
    start = time.perf_counter()
    truths = {}
    # the net's own 1000 epochs (refit_tol=None: LeaveOneOutScorer would raise max_iter)
    truths["cold"], loo = leave_one_out(net, X, y, X_test, y_test, warm=False, refit_tol=None)
    truths["warm"], _ = leave_one_out(net, X, y, X_test, y_test, warm=True, refit_tol=None)
    fitted = loo.estimator_
    adapter = adapter_for(fitted)
    w = np.ones(len(y))
    gradient = adapter.gradients(X, y).rmatmul(w[:, None])[:, 0]
    gradient += len(y) * adapter.penalty_share_gradient()
    rows = []
    for damping in (0.0, 0.01 * n_train):
        matrix, warned = influence(fitted, X, y, X_test, y_test, damping)
        rows.append((damping, {k: pearson(matrix, v) for k, v in truths.items()}, warned))
    return {
        "setting": "iris, adam (B = 20), α = 1",
        "rows": rows,
        "gradient": float(np.abs(gradient).max()),
        "seconds": time.perf_counter() - start,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 training rows, 20 test rows")
    args = parser.parse_args()
    n_train, n_test = (30, 20) if args.quick else (60, 40)
    results = [
        run_lbfgs("iris", 1.0, n_train, n_test),
        run_lbfgs("iris", 0.1, n_train, n_test),
        run_lbfgs("diabetes", 1.0, n_train, n_test),
        run_lbfgs("diabetes", 0.1, n_train, n_test),
    ]
    print(f"n_train = {n_train}, n_test = {n_test}, tanh, one hidden layer of 8 units\n")
    print("| setting | damping | cold | warm | warm+polished | cold+polished | warnings |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        for damping, r, warned in result["rows"]:
            cells = " | ".join(f"{r[k]:.4f}" for k in ("cold", "warm", "warm+polished"))
            print(
                f"| {result['setting']} | {damping:g} | {cells} | {r['cold+polished']:.4f} | "
                f"{', '.join(warned) or '-'} |"
            )
    print()
    for result in results:
        (low, second), high = result["eigenvalues"]
        print(
            f"{result['setting']}: Hessian eigenvalues {low:.3g}, {second:.3g} ... {high:.3g}; "
            f"cold polished refits in another minimum: {result['other_minimum']} of {n_train}; "
            f"{result['seconds']:.0f} s"
        )
    adam = run_adam(n_train, n_test)
    print(f"\n{adam['setting']}: max |∇J| at the fitted net {adam['gradient']:.3g}")
    for damping, r, warned in adam["rows"]:
        print(
            f"damping {damping:g}: cold {r['cold']:.4f}, warm {r['warm']:.4f} {', '.join(warned)}"
        )
    print(f"{adam['seconds']:.0f} s")


if __name__ == "__main__":
    main()
