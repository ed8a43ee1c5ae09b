"""Run pyinfluence 0.5 in ITS OWN virtual environment (called by a subprocess).

Never imported by skinfluence or by the benchmark's process: ``bench_pyinfluence.py`` pickles
the fitted model and the data, runs this file with the peer environment's python and reads the
result back. Usage::

    <peer python> benchmarks/_pyinfluence_run.py IN.pkl OUT.pkl

``IN.pkl`` holds ``{"model", "X_train", "y_train", "X_test", "y_test", "tasks", "repeats",
"loo_budget", "loo_max_rows"}``; ``OUT.pkl`` gets, per task:

- ``matrix``: ``InfluenceFunctions().fit(model, X, y).explain(X_test, y_test)`` (default
  damping 1e-5), its values and the minimum seconds over ``repeats`` warm runs (the first,
  cold run is timed apart as ``matrix_cold``);
- ``self``: ``InfluenceFunctions().fit`` + ``pyinfluence.self_influence`` (its O(n p²)
  diagonal path), values and seconds;
- ``loo``: what ``LOOInfluence(verbose=0).fit(model, X, y).explain(X_test, y_test)`` costs,
  measured on its own per-row work (``_fit_loo_model`` + the test losses of that refit) for
  as many rows as fit in ``loo_budget`` seconds (at most ``loo_max_rows``), returned as seconds
  per row; the benchmark multiplies by n.

Convention (pyinfluence 0.5, read from ``_influence.py``): L(test; without row) − L(test;
model), positive = the row helps, skinfluence's sign and units, except that the regression
loss is **half** the squared error (values half of skinfluence's).
"""

import pickle
import sys
import time
import warnings

import numpy as np


def _min_time(fn, repeats):
    start = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - start
    best = cold
    for _ in range(repeats - 1):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return result, best, cold


def main(argv):
    in_path, out_path = argv
    import pyinfluence
    from pyinfluence import InfluenceFunctions, self_influence
    from pyinfluence._loo import _fit_loo_model
    from pyinfluence._utils import _value_at_test
    from sklearn.base import is_classifier

    warnings.simplefilter("ignore")
    with open(in_path, "rb") as f:
        d = pickle.load(f)
    model, X, y, Xt, yt = d["model"], d["X_train"], d["y_train"], d["X_test"], d["y_test"]
    out = {"version": pyinfluence.__version__}
    repeats = d.get("repeats", 3)
    if "matrix" in d["tasks"]:
        values, best, cold = _min_time(
            lambda: InfluenceFunctions().fit(model, X, y).explain(Xt, yt), repeats
        )
        out.update(matrix=values, matrix_seconds=best, matrix_cold=cold)
    if "self" in d["tasks"]:
        values, best, _ = _min_time(
            lambda: self_influence(InfluenceFunctions().fit(model, X, y)), repeats
        )
        out.update(self=values, self_seconds=best)
    if "loo" in d["tasks"]:
        classifier = is_classifier(model)
        rng = np.random.default_rng(0)
        rows = rng.permutation(len(y))[: d["loo_max_rows"]]
        start = time.perf_counter()
        done = 0
        for i in rows:
            refit = _fit_loo_model(model, X, y, int(i))
            _value_at_test(refit, Xt, yt, "loss", classifier)
            done += 1
            if time.perf_counter() - start > d["loo_budget"]:
                break
        out.update(loo_seconds_per_row=(time.perf_counter() - start) / done, loo_rows=done)
    with open(out_path, "wb") as f:
        pickle.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1:])
