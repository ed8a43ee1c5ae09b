"""Influence for boosted trees: speed and quality against tree-influence 0.1.7 (Brophy et al.).

Parts (``--only speed,scale,removal,pearson`` by default; ``leafinfluence`` and
``boostin-default`` on request):

- ``speed``: the same fitted LightGBM model (breast-cancer, 100 trees, 469 training and 100
  test rows) explained by tree-influence's BoostIn, LeafInfluence and LeafRefit and by ours
  (``skinfluence.trees``: read + method), seconds and agreement of the numbers;
- ``scale``: ours on HistGradientBoostingClassifier (100 iterations) at n = 10⁴ and 10⁵,
  self-influence of every row and the influence matrix of 100 test rows, as multiples of one
  model fit;
- ``removal``: Brophy et al.'s removal test. For each of 50 test rows of a 2-D nonlinear
  binary set (make_moons, 1 700 training rows), remove the k = 1 %, 5 % training rows with
  the most positive influence on it, retrain (same hyper-parameters), and report the mean
  rise of its log-loss; k random rows as the baseline. HistGradientBoosting (60 iterations)
  with ours, and LightGBM (60 trees) with ours and tree-influence's on the same fitted model;
- ``pearson``: per-test-row Pearson (mean over the 100 test rows) of every method against
  the fixed-structure leave-one-out (LeafRefit) and against actual leave-one-out retraining
  (469 refits) on the ``speed`` model;
- ``boostin-default``: the removal test of BoostIn's two leaf derivatives ("exact" and
  "tree-influence") on make_moons, make_classification and breast-cancer with HGB and
  LightGBM (60 iterations), against random removal;
- ``leafinfluence``: LeafInfluence's default against its pure derivative (``linear=True``)
  and against first-order propagation alone (``refit_rows=0``), per-test-row Pearson with
  LeafRefit on the speed model and at n = 2 000 and 100 trees (HGB, GradientBoosting,
  LightGBM, XGBoost; binary, 3 classes, regression), and their times relative to LeafRefit.

tree-influence lives in its own virtual environment (never a dependency; see
benchmarks/README.md for how it was built); it is called through a subprocess
(``_tree_influence_run.py``) on the pickled fitted model. Without it its rows are skipped.
Both return leave-one-out-like influence with positive = the training row lowers the test
row's loss; tree-influence's LeafInfluence and BoostIn carry their own scale (Pearson is
scale-free; the removal test uses rankings only).

Usage::

    python benchmarks/bench_tree_influence.py
    python benchmarks/bench_tree_influence.py --only removal --ti-python /path/to/python
    python benchmarks/bench_tree_influence.py --quick   # n = 10⁴ only, 20 removal rows

Timings on a shared machine are noisy: compare methods within one run.
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

DEFAULT_TI_PYTHON = os.environ.get("TREE_INFLUENCE_PYTHON", "/work/venvs/tree-influence/bin/python")
RUNNER = Path(__file__).with_name("_tree_influence_run.py")
TI_METHODS = ("BoostIn", "LeafInfluence", "LeafRefit")


# -- shared pieces --------------------------------------------------------------------------
def tree_influence(python, model, X_train, y_train, X_test, y_test, names, repeats=None):
    """tree-influence's local influence (n_test, n_train) and seconds per explainer, or None.

    ``repeats`` {name: r}: median of r runs; the CPU seconds are in ``cpu_seconds`` (a dict
    filled in as a side result: {name: seconds})."""
    if not python or not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.pkl"), Path(tmp, "out.npz")
        with open(src, "wb") as f:
            pickle.dump(
                {
                    "model": model,
                    "X_train": X_train,
                    "y_train": y_train,
                    "X_test": X_test,
                    "y_test": y_test,
                    "repeats": repeats or {},
                },
                f,
            )
        subprocess.run([python, str(RUNNER), str(src), str(dst), *names], check=True)
        out = np.load(dst)
        for name in names:
            if f"{name}_cpu_seconds" in out:
                PEER_CPU_SECONDS[name] = float(out[f"{name}_cpu_seconds"])
        return {name: (out[name], float(out[f"{name}_seconds"])) for name in names}


PEER_CPU_SECONDS = {}  # tree-influence's CPU seconds of the last call, per explainer


def ours(model, X_train, y_train, X_test, y_test, method, *, fixed_baseline=False, cpu=None):
    """Our influence (n_test, n_train) of ``method`` and the seconds of read + method.

    ``fixed_baseline``: hold LightGBM's initial score (boost_from_average) fixed when a row
    is removed, as tree-influence does; by default it is refitted, as LightGBM would.
    ``cpu``: a list to which the CPU seconds are appended.
    """
    import dataclasses

    from skinfluence import trees

    start, start_cpu = time.perf_counter(), time.process_time()
    ensemble = trees.read_ensemble(model, X_train, y_train)
    if fixed_baseline:
        ensemble = dataclasses.replace(ensemble, baseline_is_fitted=False)
    fn = {
        "BoostIn": trees.boostin,
        "BoostIn, final-model gradients": lambda *a: trees.boostin(*a, checkpoints=False),
        "BoostIn, tree-influence's leaf derivative": lambda *a: trees.boostin(
            *a, leaf_derivative="tree-influence"
        ),
        "LeafInfluence": trees.leaf_influence,
        "LeafInfluence, linear": lambda *a: trees.leaf_influence(*a, linear=True),
        "LeafRefit": trees.leaf_refit,
    }[method]
    values = fn(ensemble, X_test, y_test)
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return values, time.perf_counter() - start


def fit_seconds(make, X, y, repeats=3):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model = make().fit(X, y)
        best = min(best, time.perf_counter() - start)
    return model, best


def row_pearson(A, B):
    """Mean over rows of the Pearson correlation of A[j] and B[j] (rows with variance)."""
    out = []
    for a, b in zip(A, B, strict=True):
        if a.std() > 0 and b.std() > 0:
            out.append(np.corrcoef(a, b)[0, 1])
    return float(np.mean(out))


def breast_cancer_split():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=100, stratify=y, random_state=0)


def lgbm(n_estimators):
    import lightgbm

    # n_jobs=1: on a shared 2-core machine LightGBM's OpenMP threads spin against the other
    # processes (one fit took 3 s instead of 0.1 s with its default threads).
    return lambda: lightgbm.LGBMClassifier(
        n_estimators=n_estimators, verbose=-1, random_state=0, n_jobs=1
    )


# -- a) speed -------------------------------------------------------------------------------
def run_speed(args, cache):
    X_train, X_test, y_train, y_test = breast_cancer_split()
    model, fit_s = fit_seconds(lgbm(100), X_train, y_train)
    cache["speed"] = (model, X_train, y_train, X_test, y_test)
    # BoostIn takes well under a second in both: the median of a few runs (CPU seconds too,
    # which the other jobs of a loaded machine disturb less than the wall clock)
    repeats = {"BoostIn": args.speed_repeats}
    peer = tree_influence(
        args.ti_python, model, X_train, y_train, X_test, y_test, args.ti_speed, repeats
    )
    cache["peer"] = peer
    print(
        f"\n### Speed: breast-cancer, LightGBM 100 trees, {len(y_train)} training rows, "
        f"{len(y_test)} test rows (one fit: {fit_s:.3f} s)\n"
    )
    print(
        "| method | tree-influence 0.1.7 s | skinfluence s | ratio | CPU s theirs / ours "
        "(ratio) | Pearson (ours, theirs) | same, baseline held fixed as theirs "
        "| max abs diff (baseline fixed) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    cache["ours"] = {}
    for name in TI_METHODS:
        runs, cpu = [], []
        for _ in range(repeats.get(name, 1)):
            mine, mine_s = ours(model, X_train, y_train, X_test, y_test, name, cpu=cpu)
            runs.append(mine_s)
        mine_s, mine_cpu = float(np.median(runs)), float(np.median(cpu))
        cache["ours"][name] = mine
        if peer is None or name not in peer:
            print(f"| {name} | – | {mine_s:.3g} | – | – | – | – | – |")
            continue
        theirs, theirs_s = peer[name]
        theirs_cpu = PEER_CPU_SECONDS.get(name, np.nan)
        fixed, _ = ours(model, X_train, y_train, X_test, y_test, name, fixed_baseline=True)
        ok = np.isfinite(theirs).all(axis=1)  # tree-influence's LeafRefit can give NaN rows
        diff = np.abs(fixed[ok] - theirs[ok]).max()
        print(
            f"| {name} | {theirs_s:.3g} | {mine_s:.3g} | {theirs_s / mine_s:.0f}× | "
            f"{theirs_cpu:.3g} / {mine_cpu:.3g} ({theirs_cpu / mine_cpu:.0f}×) | "
            f"{row_pearson(mine[ok], theirs[ok]):.4f} | {row_pearson(fixed[ok], theirs[ok]):.4f}"
            f" | {diff:.2g}{'' if ok.all() else f' ({(~ok).sum()} NaN rows theirs)'} |"
        )


# -- a') scale ------------------------------------------------------------------------------
def run_scale(args):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    from skinfluence import trees

    print(
        "\n### Ours on HistGradientBoostingClassifier (100 iterations, 31 leaves, 20 "
        "features): seconds and multiples of one fit\n"
    )
    print(
        "| n | fit s | read s | LeafInfluence self (n rows) | LeafInfluence 100 test rows "
        "| BoostIn self | BoostIn 100 test rows |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        X, y = make_classification(n + 100, 20, n_informative=10, random_state=0)
        X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]

        def make():
            return HistGradientBoostingClassifier(
                max_iter=100, early_stopping=False, random_state=0
            )

        model, fit_s = fit_seconds(make, X_train, y_train, repeats=1 if n > 10**4 else 3)
        cells = []
        start = time.perf_counter()
        ensemble = trees.read_ensemble(model, X_train, y_train)
        read_s = time.perf_counter() - start
        for fn, test in (
            (trees.leaf_influence_self, False),
            (trees.leaf_influence, True),
            (trees.boostin_self, False),
            (trees.boostin, True),
        ):
            if fn is trees.leaf_influence_self and n > args.self_max_n:
                # forward mode: O(n² · T · K); at 10⁴ it ran > 6 min on the loaded machine
                cells.append("skipped (O(n² T K))")
                continue
            start = time.perf_counter()
            fn(ensemble, X_test, y_test) if test else fn(ensemble)
            sec = time.perf_counter() - start
            cells.append(f"{sec:.3g} s ({sec / fit_s:.2g}×)")
        print(
            f"| {n:.0e} | {fit_s:.3g} | {read_s:.3g} ({read_s / fit_s:.2g}×) | "
            + " | ".join(cells)
            + " |"
        )


# -- b) removal -----------------------------------------------------------------------------
def log_loss_rows(model, X, y):
    proba = model.predict_proba(X)
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, None))


def removal_rise(make, X_train, y_train, X_test, y_test, order_of, ks, base_loss):
    """Mean (and s.e.) rise of each test row's loss after removing its k chosen rows."""
    rises = {k: [] for k in ks}
    for j in range(len(y_test)):
        for k in ks:
            drop = order_of(j, k)
            keep = np.setdiff1d(np.arange(len(y_train)), drop)
            model = make().fit(X_train[keep], y_train[keep])
            new = log_loss_rows(model, X_test[j : j + 1], y_test[j : j + 1])[0]
            rises[k].append(new - base_loss[j])
    return {k: np.array(v) for k, v in rises.items()}


def mean_se(values):
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) / np.sqrt(len(values)):.3f}"


def run_removal(args):
    from sklearn.datasets import make_moons
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_moons(2000, noise=0.3, random_state=0)
    X_train, y_train, X_pool, y_pool = X[:1700], y[:1700], X[1700:], y[1700:]
    rng = np.random.default_rng(0)
    pick = rng.choice(len(y_pool), args.removal_rows, replace=False)
    X_test, y_test = X_pool[pick], y_pool[pick]
    n = len(y_train)
    ks = [round(f * n) for f in (0.01, 0.05)]
    random_sets = {(j, k): rng.choice(n, k, replace=False) for j in range(len(y_test)) for k in ks}

    def hgb():
        return HistGradientBoostingClassifier(max_iter=60, early_stopping=False, random_state=0)

    setups = [
        ("HistGradientBoosting, 60 iterations", hgb, False),
        ("LightGBM, 60 trees", lgbm(60), True),
    ]
    print(
        f"\n### Removal test: make_moons (noise 0.3), {n} training rows, "
        f"{len(y_test)} test rows; mean rise of the test row's log-loss after removing "
        "its k most helpful training rows (± s.e.)\n"
    )
    print(
        "| model | ranking | "
        + " | ".join(f"k = {k} ({k / n:.0%})" for k in ks)
        + " | seconds to rank |"
    )
    print("|---|---|" + "---|" * len(ks) + "---|")
    for label, make, with_peer in setups:
        model = make().fit(X_train, y_train)
        base = log_loss_rows(model, X_test, y_test)
        rankings = {}
        for name in (
            "LeafInfluence",
            "BoostIn",
            "BoostIn, final-model gradients",
            "BoostIn, tree-influence's leaf derivative",
        ):
            values, sec = ours(model, X_train, y_train, X_test, y_test, name)
            rankings[f"skinfluence {name}"] = (values, sec)
        if with_peer:
            # tree-influence's LeafInfluence equals ours with the baseline held fixed (to 5e-10,
            # the speed table); it would take ~15 min here, so by default that stands in.
            values, sec = ours(
                model, X_train, y_train, X_test, y_test, "LeafInfluence", fixed_baseline=True
            )
            rankings["skinfluence LeafInfluence, baseline fixed (= tree-influence's)"] = (
                values,
                sec,
            )
            peer = tree_influence(
                args.ti_python, model, X_train, y_train, X_test, y_test, args.ti_removal
            )
            for name, (values, sec) in (peer or {}).items():
                rankings[f"tree-influence {name}"] = (values, sec)
        results = {}
        for name, (values, sec) in rankings.items():
            order = np.argsort(-values, axis=1, kind="stable")
            results[name] = removal_rise(
                make,
                X_train,
                y_train,
                X_test,
                y_test,
                lambda j, k, order=order: order[j, :k],
                ks,
                base,
            )
            cells = " | ".join(mean_se(v) for v in results[name].values())
            print(f"| {label} | {name} | {cells} | {sec:.3g} |", flush=True)
        result = removal_rise(
            make, X_train, y_train, X_test, y_test, lambda j, k, s=random_sets: s[j, k], ks, base
        )
        cells = " | ".join(mean_se(v) for v in result.values())
        print(f"| {label} | random | {cells} | – |", flush=True)
        peer = results.get("tree-influence BoostIn")
        for name in ("skinfluence BoostIn", "skinfluence LeafInfluence") if peer else ():
            cells = " | ".join(mean_se(results[name][k] - peer[k]) for k in ks)
            print(f"| {label} | {name} − tree-influence BoostIn (paired) | {cells} | – |")
        if peer:
            from scipy.stats import spearmanr

            theirs = rankings["tree-influence BoostIn"][0]
            for name in ("skinfluence BoostIn", "skinfluence BoostIn, final-model gradients"):
                rho = np.mean(
                    [spearmanr(a, b)[0] for a, b in zip(rankings[name][0], theirs, strict=True)]
                )
                print(f"\n{label}: Spearman of {name} with tree-influence BoostIn: {rho:.3f}")


# -- leafinfluence: the default against the pure derivative, 100 trees ----------------------
def _leafinfluence_models(n, m, T):
    """(label, task, fitted model, X_train, y_train, X_test, y_test) for the comparison."""
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    X_tr, X_te, y_tr, y_te = breast_cancer_split()
    yield "LightGBM, breast-cancer (the speed model)", "binary", lgbm(100)(), X_tr, y_tr, X_te, y_te
    for kind in ("HGB", "GB", "LightGBM", "XGBoost"):
        for task in ("binary", "3 classes", "regression"):
            if task == "regression":
                X, y = make_regression(n + m, 6, n_informative=4, noise=20.0, random_state=0)
                y = y / y.std()
            else:
                X, y = make_classification(
                    n + m,
                    6,
                    n_informative=4,
                    n_classes=2 if task == "binary" else 3,
                    flip_y=0.05,
                    random_state=0,
                )
            reg = task == "regression"
            if kind == "HGB":
                cls = HistGradientBoostingRegressor if reg else HistGradientBoostingClassifier
                model = cls(max_iter=T, max_leaf_nodes=8, random_state=0)
            elif kind == "GB":
                cls = GradientBoostingRegressor if reg else GradientBoostingClassifier
                model = cls(n_estimators=T, max_depth=3, min_samples_leaf=5, random_state=0)
            elif kind == "LightGBM":
                import lightgbm

                cls = lightgbm.LGBMRegressor if reg else lightgbm.LGBMClassifier
                model = cls(n_estimators=T, verbose=-1, random_state=0, n_jobs=1)
            else:
                import xgboost

                cls = xgboost.XGBRegressor if reg else xgboost.XGBClassifier
                model = cls(n_estimators=T, max_depth=3, learning_rate=0.1, n_jobs=1)
            yield kind, task, model, X[:n], y[:n], X[n:], y[n:]


def run_leafinfluence(args):
    """Per-test-row Pearson with LeafRefit of LeafInfluence: the pure derivative
    (``linear=True``), first-order propagation only (``refit_rows=0``) and the default
    (the 64 rows that move their leaves most refitted exactly), and their times."""
    from skinfluence import trees
    from skinfluence.trees._methods import Trajectory

    n, m, T = 2000, 50, 100
    print(
        f"\n### LeafInfluence vs LeafRefit, n = {n}, {m} test rows, {T} trees: mean (min) "
        "per-test-row Pearson; self-influence on every 10th row; seconds relative to "
        "LeafRefit of the same test rows\n"
    )
    print(
        "| model | task | matrix, derivative | matrix, refit_rows=0 | matrix, default | "
        "self, refit_rows=0 | self, default | time: derivative / refit_rows=0 / default |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind, task, model, X_tr, y_tr, Xt, yt in _leafinfluence_models(n, m, T):
        model.fit(X_tr, y_tr)
        e = trees.read_ensemble(model, X_tr, y_tr)
        start = time.perf_counter()
        exact = trees.leaf_refit(e, Xt, yt)
        refit_s = time.perf_counter() - start
        seconds, results = [], []
        for kw in ({"linear": True}, {"refit_rows": 0}, {}):
            start = time.perf_counter()  # each with its own trajectory (built inside)
            results.append(trees.leaf_influence(e, Xt, yt, **kw))
            seconds.append((time.perf_counter() - start) / refit_s)
        rows = np.arange(0, len(y_tr), 10)
        traj = Trajectory(e)
        s_exact = trees.leaf_refit_self(e, rows=rows)
        s_first = trees.leaf_influence_self(e, rows=rows, refit_rows=0, trajectory=traj)
        s_new = trees.leaf_influence_self(e, rows=rows, trajectory=traj)

        def cell(A, B=exact):
            r = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(A, B, strict=True)])
            return f"{r.mean():.4f} ({r.min():.3f})"

        print(
            f"| {kind} | {task} | {' | '.join(cell(A) for A in results)} | "
            f"{np.corrcoef(s_first, s_exact)[0, 1]:.4f} | "
            f"{np.corrcoef(s_new, s_exact)[0, 1]:.4f} | "
            f"{' / '.join(f'{x:.2g}' for x in seconds)} |",
            flush=True,
        )


# -- boostin-default: the two leaf derivatives of BoostIn in the removal test ----------------
def _removal_sets(name, seed=0):
    """(X_train, y_train, X_pool, y_pool) of the data sets of the BoostIn comparison."""
    from sklearn.datasets import make_classification, make_moons

    if name == "moons":
        X, y = make_moons(2000, noise=0.3, random_state=seed)
        return X[:1700], y[:1700], X[1700:], y[1700:]
    if name == "classification":
        X, y = make_classification(
            2000, 10, n_informative=5, flip_y=0.05, class_sep=0.8, random_state=seed
        )
        return X[:1700], y[:1700], X[1700:], y[1700:]
    X_tr, X_te, y_tr, y_te = breast_cancer_split()
    return X_tr, y_tr, X_te, y_te


def run_boostin_default(args):
    """Removal test of BoostIn's leaf derivative, "exact" against "tree-influence", on
    several data sets and two libraries (HGB and LightGBM, 60 iterations), with random."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    def hgb():
        return HistGradientBoostingClassifier(max_iter=60, early_stopping=False, random_state=0)

    print(
        f"\n### BoostIn's leaf derivative in the removal test: {args.removal_rows} test rows, "
        "mean rise of the test row's log-loss after removing its k most helpful rows (± s.e.)\n"
    )
    print(
        "| data | model | k (1 %, 5 %) | exact | tree-influence's | random | "
        "tree-influence's − exact (paired) |"
    )
    print("|---|---|---|---|---|---|---|")
    for data in args.removal_data:
        X_train, y_train, X_pool, y_pool = _removal_sets(data)
        rng = np.random.default_rng(0)
        pick = rng.choice(len(y_pool), min(args.removal_rows, len(y_pool)), replace=False)
        X_test, y_test = X_pool[pick], y_pool[pick]
        n = len(y_train)
        ks = [max(1, round(f * n)) for f in (0.01, 0.05)]
        random_sets = {
            (j, k): rng.choice(n, k, replace=False) for j in range(len(y_test)) for k in ks
        }
        for label, make in (("HGB, 60", hgb), ("LightGBM, 60", lgbm(60))):
            model = make().fit(X_train, y_train)
            base = log_loss_rows(model, X_test, y_test)
            rises = {}
            for name in ("BoostIn", "BoostIn, tree-influence's leaf derivative"):
                values, _ = ours(model, X_train, y_train, X_test, y_test, name)
                order = np.argsort(-values, axis=1, kind="stable")
                rises[name] = removal_rise(
                    make,
                    X_train,
                    y_train,
                    X_test,
                    y_test,
                    lambda j, k, order=order: order[j, :k],
                    ks,
                    base,
                )
            rises["random"] = removal_rise(
                make,
                X_train,
                y_train,
                X_test,
                y_test,
                lambda j, k, s=random_sets: s[j, k],
                ks,
                base,
            )
            exact, theirs = rises["BoostIn"], rises["BoostIn, tree-influence's leaf derivative"]
            for k in ks:
                print(
                    f"| {data} (n = {n}) | {label} | {k} ({k / n:.0%}) | {mean_se(exact[k])} | "
                    f"{mean_se(theirs[k])} | {mean_se(rises['random'][k])} | "
                    f"{mean_se(theirs[k] - exact[k])} |",
                    flush=True,
                )


# -- c) pearson -----------------------------------------------------------------------------
def run_pearson(args, cache):
    if "speed" not in cache:
        run_speed(args, cache)
    model, X_train, y_train, X_test, y_test = cache["speed"]
    make = lgbm(100)
    base = log_loss_rows(model, X_test, y_test)
    start = time.perf_counter()
    actual = np.empty((len(y_test), len(y_train)))
    for i in range(len(y_train)):
        keep = np.arange(len(y_train)) != i
        refit = make().fit(X_train[keep], y_train[keep])
        actual[:, i] = log_loss_rows(refit, X_test, y_test) - base
    loo_s = time.perf_counter() - start
    fixed = cache["ours"]["LeafRefit"]
    print(
        f"\n### Pearson per test row (mean over {len(y_test)} test rows), the speed model: "
        f"against the fixed-structure leave-one-out and against actual leave-one-out "
        f"retraining ({len(y_train)} refits, {loo_s:.0f} s)\n"
    )
    print("| method | vs fixed-structure LOO (LeafRefit) | vs actual retraining |")
    print("|---|---|---|")
    rows = [(f"skinfluence {k}", v) for k, v in cache["ours"].items()]
    rows += [(f"tree-influence {k}", v[0]) for k, v in (cache["peer"] or {}).items()]
    for name, values in rows:
        print(f"| {name} | {row_pearson(values, fixed):.4f} | {row_pearson(values, actual):.4f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="speed,scale,removal,pearson")
    parser.add_argument(
        "--ti-python",
        default=DEFAULT_TI_PYTHON,
        help="python of the tree-influence environment ('' to skip it)",
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[10**4, 10**5])
    parser.add_argument("--removal-rows", type=int, default=50)
    parser.add_argument(
        "--speed-repeats", type=int, default=7, help="runs of BoostIn in the speed table (median)"
    )
    parser.add_argument(
        "--removal-data",
        nargs="*",
        default=["moons", "classification", "breast-cancer"],
        help="data sets of --only boostin-default",
    )
    parser.add_argument(
        "--self-max-n",
        type=int,
        default=3000,
        help="largest n for LeafInfluence self-influence (O(n² T K))",
    )
    parser.add_argument(
        "--ti-speed",
        nargs="*",
        default=list(TI_METHODS),
        help="tree-influence explainers in the speed table",
    )
    parser.add_argument(
        "--ti-removal",
        nargs="*",
        default=["BoostIn"],
        help="tree-influence explainers in the removal test (LeafInfluence: slow)",
    )
    parser.add_argument("--quick", action="store_true", help="n = 1e4 only, 20 removal rows")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.removal_rows = [10**4], 20
    warnings.simplefilter("ignore")
    parts = args.only.split(",")
    print(
        f"python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f}; "
        f"{os.cpu_count()} CPUs"
    )
    cache = {}
    for part in parts:
        start = time.perf_counter()
        {
            "speed": lambda: run_speed(args, cache),
            "scale": lambda: run_scale(args),
            "removal": lambda: run_removal(args),
            "pearson": lambda: run_pearson(args, cache),
            "leafinfluence": lambda: run_leafinfluence(args),
            "boostin-default": lambda: run_boostin_default(args),
        }[part]()
        print(
            f"\n({part}: {time.perf_counter() - start:.0f} s; load average "
            f"{os.getloadavg()[0]:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
