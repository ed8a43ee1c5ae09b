"""InfluenceScorer on a dask array too large to hold: n = 10⁷ rows generated chunk by chunk.

Usage: python benchmarks/bench_dask.py [--n 10000000] [--p 20] [--chunk 250000]
                                       [--model logistic|ridge] [--workers 2] [--check 200000]

X (n × p, float64) is ``dask.array.random`` output: every pass over it regenerates its chunks
on the workers, so no process ever holds more than a few chunks. The model is passed unfitted:
InfluenceScorer fits it on the first chunk and refines it by Newton passes on all rows (each
pass one map-reduce of the p × p Hessian and the gradient). Then self-influence (``scores_``)
and the mean influence on 100 test rows are reduced on the workers (their top 10 and mean come
back), and ``explain`` gives the 5 most helpful and harmful rows of each test row (a top-k
reduction of the 100 × n matrix, never formed whole). Times are also given as multiples of one
plain pass over X (generate the chunks and sum them), measured in the same run; peak memory is
each process's maxrss (``resource.getrusage``). ``--check`` first compares the dask path with
the in-memory one on that many rows.
"""

import argparse
import resource
import time

import dask
import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge

from skinfluence import InfluenceScorer


def maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n, p, chunk, model, seed=0):
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, p), chunks=(chunk, p))
    w = np.linspace(-1.0, 1.0, p)
    z = X @ w
    if model == "logistic":
        y = (rng.random(n, chunks=chunk) < 1.0 / (1.0 + da.exp(-z))).astype(np.int64)
    else:
        y = z + rng.standard_normal(n, chunks=chunk)
    return X, y


def estimator(model):
    return LogisticRegression(C=1.0) if model == "logistic" else Ridge(alpha=1.0)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def check(n, p, chunk, model):
    """The dask path against the in-memory path on n rows (same fitted model)."""
    X, y = make_data(n, p, chunk, model, seed=1)
    Xn, yn = dask.compute(X, y)
    est = estimator(model).set_params(tol=1e-10).fit(Xn, yn)  # at the optimum: no warning
    memory = InfluenceScorer(FrozenEstimator(est)).fit(Xn, yn)
    remote = InfluenceScorer(FrozenEstimator(est)).fit(X, y)
    Xt, yt = Xn[:100], yn[:100]
    rel = lambda a, b: float(np.max(np.abs(a - b)) / np.max(np.abs(b)))  # noqa: E731
    return {
        "scores_": rel(remote.scores_.compute(), memory.scores_),
        "influence": rel(remote.influence(Xt, yt).compute(), memory.influence(Xt, yt)),
        "aggregate": rel(
            remote.influence(Xt, yt, aggregate="mean").compute(),
            memory.influence(Xt, yt, aggregate="mean"),
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--model", choices=["logistic", "ridge"], default="logistic")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", type=int, default=50_000, help="0 skips the check")
    args = parser.parse_args()
    n, p = args.n, args.p
    if args.check:  # on a threaded cluster of its own, before the measured one starts
        print(f"dask vs in-memory on {args.check} rows (max relative difference):")
        chunk = min(args.chunk, args.check // 4)
        with (
            LocalCluster(n_workers=1, processes=False, dashboard_address=None) as small,
            Client(small),
        ):
            for name, value in check(args.check, p, chunk, args.model).items():
                print(f"  {name}: {value:.2e}")
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    worker_rss = lambda: client.run(maxrss_mib)  # noqa: E731
    client_rss = maxrss_mib()
    start_rss = worker_rss()
    X, y = make_data(n, p, args.chunk, args.model)
    m = 100
    X_test, y_test = dask.compute(X[:m] + 0.5, y[:m])
    print(
        f"\nn = {n:,}, p = {p}, {args.model}, chunks of {args.chunk:,} rows "
        f"({X.numblocks[0]} chunks; X would take {n * p * 8 / 2**30:.2f} GiB), "
        f"{args.workers} worker processes × 1 thread"
    )
    _, t_pass = timed(lambda: X.sum().compute())
    scorer, t_fit = timed(lambda: InfluenceScorer(estimator(args.model)).fit(X, y))
    passes = scorer._dask.n_newton_passes
    scores = scorer.scores_
    (top, mean), t_self = timed(lambda: dask.compute(da.topk(scores, 10), scores.mean()))
    agg = scorer.influence(X_test, y_test, aggregate="mean")
    (agg_top, agg_mean), t_agg = timed(lambda: dask.compute(da.topk(agg, 10), agg.mean()))
    explained, t_explain = timed(lambda: scorer.explain(X_test, y_test, k=5))
    rss = worker_rss()
    print(
        f"\n| step | s | × one pass over X |\n|---|---|---|\n"
        f"| one pass over X (generate + sum) | {t_pass:.1f} | 1.0 |\n"
        f"| fit: first-chunk fit + {passes} Newton passes (H, ∇J) | {t_fit:.1f} | "
        f"{t_fit / t_pass:.1f} |\n"
        f"| self-influence of all rows (top 10 + mean) | {t_self:.1f} | {t_self / t_pass:.1f} |\n"
        f"| mean influence on {m} test rows (top 10 + mean) | {t_agg:.1f} | "
        f"{t_agg / t_pass:.1f} |\n"
        f"| explain {m} test rows, k = 5 ({m} × n matrix by chunks) | {t_explain:.1f} | "
        f"{t_explain / t_pass:.1f} |"
    )
    print(
        f"\nPeak memory (maxrss): client {maxrss_mib():.0f} MiB ({client_rss:.0f} before "
        "the run, after the check); workers "
        + ", ".join(f"{v:.0f}" for v in rss.values())
        + f" MiB (at start {', '.join(f'{v:.0f}' for v in start_rss.values())} MiB)."
    )
    print(
        f"Self-influence: mean {mean:.3g}, largest {top[0]:.3g}; mean influence: mean "
        f"{agg_mean:.3g}, largest {agg_top[0]:.3g}; explain shapes "
        f"{explained.helpful_indices.shape}; stationarity after refinement "
        f"{scorer._dask.stationarity:.2g} leave-one-out steps."
    )
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
