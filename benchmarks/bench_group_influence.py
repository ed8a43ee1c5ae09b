"""Influence on targets other than the loss, and of groups of rows, against retraining (issue 20).

Part 1 (targets; ``--targets`` runs it alone): ``InfluenceScorer.influence(..., target=...)``
on bundled data, first order and with ``newton_step=True`` (the single step,
``newton_refine=0``, and the default ``newton_refine="auto"``), against
``LeaveOneOutScorer`` (Newton refits to 1e-10, exact leave-one-out) evaluating the same
target on every refit model. Pearson over all
(test row, training row) entries, or over training rows for the set targets.

Part 2 (groups): ``influence(..., groups=g)`` first order and with
``group_correction="newton"`` against ``LeaveOneGroupOutScorer`` (leave-one-group-out
refits) for groups of 1 %, 5 % and 20 % of the rows, random or coherent (rows close along
a random direction grouped together: a data source, a week, an annotator), on bundled and
synthetic data. Pearson over all (test row, group) entries of the loss and of the
predicted probability, and over groups of the mean test loss; "scale" is the least-squares
slope of the estimate on the truth (first order underestimates large coherent groups,
Koh et al. 2019).

Part 3 (``--diagnose``): where the Newton step's margin error on LR at C = 1 comes from. A
numpy re-derivation of the binary leave-one-out Newton step from the 1e-10 fit, a second
step (the gradient of the objective without row i at the stepped parameters, the Hessian
H − s_i x̃_i x̃_iᵀ at θ̂ kept), and the second step given only to the k rows with the largest
step ρ_i² x̃_iᵀ H⁻¹ x̃_i (k (n p + p²) more work).

    python benchmarks/bench_group_influence.py [--quick] [--targets] [--diagnose]
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.preprocessing import scale
from threadpoolctl import threadpool_limits

from skinfluence import InfluenceScorer, LeaveOneGroupOutScorer, LeaveOneOutScorer
from skinfluence.models import AUROCSurrogate, OutputMetric


def _pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _slope(est, truth):
    est, truth = np.ravel(est), np.ravel(truth)
    return float(est @ truth / (truth @ truth))


def _split(X, y, n_train, seed=0):
    idx = np.random.RandomState(seed).permutation(len(y))
    return X[idx[:n_train]], y[idx[:n_train]], X[idx[n_train:]], y[idx[n_train:]]


def _poisson_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 5))
    y = rng.poisson(np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.2))
    return X, y


def _target_cases():
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xi, yi = load_iris(return_X_y=True)
    Xd, yd = load_diabetes(return_X_y=True)
    Xp, yp = _poisson_data()
    mean_p1 = OutputMetric(lambda P, y: float(np.mean(P[:, 1] ** 2)))
    mean_pred = OutputMetric(lambda P, y: float(np.mean(np.log1p(np.abs(P)))))
    binary = ["loss", "prediction", "margin", "logit", "auroc", "custom", "worst", "gap"]
    return [
        ("breast cancer, LR C=0.1", LogisticRegression(C=0.1), scale(Xc), yc, 400, binary, mean_p1),
        ("breast cancer, LR C=1", LogisticRegression(C=1.0), scale(Xc), yc, 400, binary, mean_p1),
        (
            "iris, multinomial LR",
            LogisticRegression(C=1.0),
            scale(Xi),
            yi,
            100,
            ["loss", "prediction", "margin", "logit", "custom", "worst", "gap"],
            mean_p1,
        ),
        (
            "diabetes, Ridge α=0.1",
            Ridge(alpha=0.1),
            Xd,
            yd / 100,
            300,
            ["loss", "prediction", "custom", "worst", "gap"],
            mean_pred,
        ),
        (
            "synthetic Poisson GLM",
            PoissonRegressor(alpha=0.01),
            Xp,
            yp,
            300,
            ["loss", "prediction", "custom", "worst", "gap"],
            mean_pred,
        ),
    ]


def _target(name, custom):
    return {
        "auroc": AUROCSurrogate(temperature=0.1),
        "custom": custom,
        "worst": "worst_group_loss",
        "gap": "loss_gap",
    }.get(name, name)


def part_targets():
    rows = []
    for label, est, X, y, n_train, names, custom in _target_cases():
        Xtr, ytr, Xte, yte = _split(X, y, n_train)
        t0 = time.perf_counter()
        loo = LeaveOneOutScorer(est).fit(Xtr, ytr)
        t_loo = time.perf_counter() - t0
        first = InfluenceScorer(est).fit(Xtr, ytr)
        single = InfluenceScorer(est, newton_step=True, newton_refine=0).fit(Xtr, ytr)
        newton = InfluenceScorer(est, newton_step=True).fit(Xtr, ytr)  # newton_refine="auto"
        groups = (Xte[:, 0] > np.median(Xte[:, 0])).astype(int)
        for name in names:
            target = _target(name, custom)
            kw = {"target": target}
            if name in ("worst", "gap"):
                kw["test_groups"] = groups
            truth = loo.influence(Xte, yte, **kw)
            rows.append(
                (
                    label,
                    name,
                    truth.shape,
                    _pearson(first.influence(Xte, yte, **kw), truth),
                    _pearson(single.influence(Xte, yte, **kw), truth),
                    _pearson(newton.influence(Xte, yte, **kw), truth),
                )
            )
        print(f"# {label}: LOO ({loo.refit_method_}) {t_loo:.1f} s", flush=True)
    return rows


def _groups(X, fraction, coherent, seed):
    n = len(X)
    size = max(1, round(fraction * n))
    rng = np.random.RandomState(seed)
    if coherent:
        direction = rng.normal(size=X.shape[1])
        key = X @ direction / np.linalg.norm(direction)
        order = np.argsort(key + 0.3 * key.std() * rng.normal(size=n))
    else:
        order = rng.permutation(n)
    groups = np.empty(n, dtype=int)
    groups[order] = np.arange(n) // size
    return groups


def _group_cases(quick):
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xs, ys = make_classification(
        600 if quick else 1000, 10, n_informative=6, flip_y=0.05, random_state=0
    )
    Xd, yd = load_diabetes(return_X_y=True)
    return [
        ("breast cancer, LR C=0.1", LogisticRegression(C=0.1), scale(Xc), yc, 400),
        ("breast cancer, LR C=1", LogisticRegression(C=1.0), scale(Xc), yc, 400),
        ("synthetic, LR C=1", LogisticRegression(C=1.0), Xs, ys, len(ys) - 200),
        ("diabetes, Ridge α=0.1", Ridge(alpha=0.1), Xd, yd / 100, 300),
    ]


def part_groups(quick):
    rows = []
    for label, est, X, y, n_train in _group_cases(quick):
        Xtr, ytr, Xte, yte = _split(X, y, n_train)
        scorer = InfluenceScorer(est).fit(Xtr, ytr)
        classifier = hasattr(est, "predict_proba")
        for coherent in (False, True):
            for fraction in (0.01, 0.05, 0.2):
                groups = _groups(Xtr, fraction, coherent, seed=1)
                t0 = time.perf_counter()
                logo = LeaveOneGroupOutScorer(est).fit(Xtr, ytr, groups=groups)
                t_logo = time.perf_counter() - t0
                cells = []
                for target in ("loss", "prediction") if classifier else ("loss",):
                    truth = logo.influence(Xte, yte, target=target)
                    fo = scorer.influence(Xte, yte, target=target, groups=groups)
                    nt = scorer.influence(
                        Xte, yte, target=target, groups=groups, group_correction="newton"
                    )
                    cells.append((target, _pearson(fo, truth), _pearson(nt, truth)))
                truth = logo.influence(Xte, yte, aggregate="mean")
                fo = scorer.influence(Xte, yte, groups=groups, aggregate="mean")
                nt = scorer.influence(
                    Xte, yte, groups=groups, aggregate="mean", group_correction="newton"
                )
                cells.append(("mean loss", _pearson(fo, truth), _pearson(nt, truth)))
                rows.append(
                    (
                        label,
                        "coherent" if coherent else "random",
                        fraction,
                        len(np.unique(groups)),
                        cells,
                        _slope(fo, truth),
                        _slope(nt, truth),
                        logo.refit_method_,
                        t_logo,
                    )
                )
                print(f"# {label} {rows[-1][1]} {fraction}: {t_logo:.1f} s", flush=True)
    return rows


def part_diagnose():
    from scipy.special import expit

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, ytr, Xte, yte = _split(scale(X), y, 400)
    C = 1.0
    loo = LeaveOneOutScorer(LogisticRegression(C=C)).fit(Xtr, ytr)
    truth = loo.influence(Xte, yte, target="margin")
    newton = InfluenceScorer(LogisticRegression(C=C), newton_step=True).fit(Xtr, ytr)
    est = newton.influence(Xte, yte, target="margin")
    theta = np.r_[loo.estimator_.coef_.ravel(), loo.estimator_.intercept_]
    A, At = np.c_[Xtr, np.ones(len(ytr))], np.c_[Xte, np.ones(len(yte))]
    n, p = A.shape
    R = np.eye(p) / C
    R[-1, -1] = 0.0  # Σ ℓ + ‖w‖² / (2C), intercept free
    prob = expit(A @ theta)
    s, r = prob * (1 - prob), prob - ytr
    H = (A * s[:, None]).T @ A + R
    H_inv = np.linalg.inv(H)
    m = np.einsum("ij,jk,ik->i", A, H_inv, A)
    rho = r / (1 - s * m)
    steps = (H_inv @ A.T) * rho  # θ₋ᵢ − θ, one Newton step, (p, n)
    sign = (2 * yte - 1)[:, None]
    one = sign * (At @ steps)
    two = np.empty_like(one)
    for i in range(n):
        keep = np.arange(n) != i
        t1 = theta + steps[:, i]
        grad = A[keep].T @ (expit(A[keep] @ t1) - ytr[keep]) + R @ t1
        t2 = t1 - np.linalg.solve(H - s[i] * np.outer(A[i], A[i]), grad)
        two[:, i] = sign[:, 0] * (At @ (t2 - theta))
    err = np.abs(est - truth).sum(axis=0)
    worst = np.argsort(-err)[:10]
    keep = np.setdiff1d(np.arange(n), worst)
    print("\n### Diagnosis: the Newton step's margin error, LR C=1, breast cancer\n")
    print(f"- skinfluence newton_step=True: {_pearson(est, truth):.4f}")
    print(f"- numpy one step from the 1e-10 fit: {_pearson(one, truth):.4f}")
    print(f"- the 10 rows with the largest error hold {err[worst].sum() / err.sum():.0%} of it;")
    print(f"  without them: {_pearson(est[:, keep], truth[:, keep]):.4f}")
    print(f"- two steps, every row: {_pearson(two, truth):.4f}")
    order = np.argsort(-(rho**2) * m)
    for k in (5, 10, 20):
        mixed = one.copy()
        mixed[:, order[:k]] = two[:, order[:k]]
        print(f"- two steps for the {k} largest steps only: {_pearson(mixed, truth):.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller synthetic set")
    parser.add_argument("--targets", action="store_true", help="only the targets table")
    parser.add_argument(
        "--diagnose", action="store_true", help="only the Newton margin error at C = 1"
    )
    args = parser.parse_args()
    if args.diagnose:
        with threadpool_limits(1):
            return part_diagnose()
    with threadpool_limits(1):
        targets = part_targets()
        groups = None if args.targets else part_groups(args.quick)
    print("\n### Targets against leave-one-out retraining of the same quantity\n")
    print(
        "| data, model | target | shape | Pearson, first order | Pearson, Newton step "
        "(single) | Pearson, Newton step (refined) |"
    )
    print("|---|---|---|---|---|---|")
    for label, name, shape, fo, one, nt in targets:
        print(f"| {label} | {name} | {shape} | {fo:.4f} | {one:.4f} | {nt:.4f} |")
    if groups is None:
        return
    print("\n### Groups against leave-one-group-out retraining\n")
    print(
        "| data, model | groups | size | n groups | loss: first / Newton | "
        "P(label): first / Newton | mean test loss: first / Newton | scale: first / Newton "
        "| refits |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, kind, fraction, k, cells, s_fo, s_nt, how, _ in groups:
        by = {name: f"{fo:.4f} / {nt:.4f}" for name, fo, nt in cells}
        print(
            f"| {label} | {kind} | {fraction:.0%} | {k} | {by.get('loss', '—')} | "
            f"{by.get('prediction', '—')} | "
            f"{by.get('mean loss', '—')} | {s_fo:.3f} / {s_nt:.3f} | {how} |"
        )


if __name__ == "__main__":
    main()
