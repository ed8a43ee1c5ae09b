"""How InfluenceScorer's cost grows with n: seconds and peak memory at n = 10⁴, 10⁵, 10⁶.

Dense float64 X (n × p, p = 100 by default), binary LogisticRegression fitted once outside
the timed region and passed frozen, exact ("direct") solver. Each size runs in its own
process so that peak memory is that size's alone. Timed phases:

- ``fit``: Hessian (O(n p²)), Cholesky (O(p³)), self-influence of every row (O(n p²));
- ``self``: self-influence of the n training rows again, through ``score_samples``;
- ``influence``: the (m × n) influence matrix of m test rows (O(n p m)).

Peak memory is tracemalloc's (numpy's allocations), X excluded: during ``fit`` + ``self``,
and during ``influence`` beyond its (m × n) result; and the process's maximum resident set
size (X, the model and the interpreter included).

Usage::

    python benchmarks/bench_scale.py                 # n = 1e4, 1e5, 1e6; p = 100; m = 100
    python benchmarks/bench_scale.py --sizes 10000 100000 --p 50 --m 10

Timings on a shared machine are noisy: compare sizes within one run (the growth exponents
printed at the end are the point), not across runs.
"""

import argparse
import itertools
import json
import math
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np


def run_one(n, p, m, seed=0):
    """Time one size in this process; returns a dict of figures."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    from skinfluence import InfluenceScorer

    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, p))
    y = (X[:, :10].sum(axis=1) + 2.0 * rng.standard_normal(n) > 0).astype(np.int64)
    X_test, y_test = X[:m] + 0.1, y[:m]
    start = time.perf_counter()
    model = LogisticRegression(solver="newton-cholesky").fit(X, y)
    model_seconds = time.perf_counter() - start

    tracemalloc.start()
    start = time.perf_counter()
    scorer = InfluenceScorer(FrozenEstimator(model)).fit(X, y)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    self_influence = scorer.score_samples(X, y)
    self_seconds = time.perf_counter() - start
    _, peak_fit = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    infl = scorer.influence(X_test, y_test)
    influence_seconds = time.perf_counter() - start
    _, peak_influence = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.all(np.isfinite(infl)) and np.allclose(self_influence, scorer.scores_)
    return {
        "n": n,
        "p": p,
        "m": m,
        "model_fit_s": model_seconds,
        "fit_s": fit_seconds,
        "self_influence_s": self_seconds,
        "influence_s": influence_seconds,
        "peak_fit_mb": peak_fit / 1e6,
        # Working memory of influence beyond its (m × n) result.
        "peak_influence_extra_mb": (peak_influence - base - infl.nbytes) / 1e6,
        "X_mb": X.nbytes / 1e6,
        "output_mb": infl.nbytes / 1e6,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    }


def _growth(rows, key):
    return [
        math.log(b[key] / a[key]) / math.log(b["n"] / a["n"]) for a, b in itertools.pairwise(rows)
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--p", type=int, default=100)
    parser.add_argument("--m", type=int, default=100, help="test rows for influence")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.one is not None:
        json.dump(run_one(args.one, args.p, args.m), sys.stdout)
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--p", str(args.p), "--m", str(args.m)]
        rows.append(json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout))
    print(
        f"| n | model fit (s) | fit: H + self-infl. (s) | self-influence (s) | influence, "
        f"m={args.m} (s) | peak, fit + self (MB) | influence beyond output (MB) | X (MB) | "
        "output (MB) | max RSS (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['n']:,} | {r['model_fit_s']:.2f} | {r['fit_s']:.2f} | "
            f"{r['self_influence_s']:.2f} | {r['influence_s']:.2f} | {r['peak_fit_mb']:.0f} | "
            f"{r['peak_influence_extra_mb']:.0f} | {r['X_mb']:.0f} | {r['output_mb']:.0f} | "
            f"{r['max_rss_mb']:.0f} |"
        )
    if len(rows) > 1:
        print()
        for key in ("fit_s", "self_influence_s", "influence_s", "peak_fit_mb"):
            exps = ", ".join(f"{e:.2f}" for e in _growth(rows, key))
            print(f"growth exponent of {key} per decade of n: {exps}")


if __name__ == "__main__":
    main()
