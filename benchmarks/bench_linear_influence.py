"""Exact influence for binary logistic regression: skinfluence against plain numpy and peers.

For each size (n_train, p) the script fits ``LogisticRegression(C=1)`` once (not timed) on
synthetic data and times, warm and in this one process, the exact influence of every training
row on ``n_test`` test rows plus every row's self-influence:

- ``numpy reference``: the computation in plain numpy on arrays prepared beforehand
  (X̃ = [X, 1], curvatures s): ``X̃ᵀ(s ⊙ X̃)`` as one matmul (GEMM) [2 n p²], one
  ``np.linalg.solve(H, I)`` for the inverse [p³], ``Σ_j (X̃ H⁻¹)_ij X̃_ij`` [2 n p²] for
  self-influence; ``X̃ (H⁻¹ X̃_testᵀ)`` [2 n p m] for ``influence``. No hand-picked BLAS
  routine, so it runs what any numpy user gets on this machine. The target is skinfluence
  ≤ 1.2× this, with and without the environment's ``OPENBLAS_*`` settings.
- ``skinfluence``: ``InfluenceScorer(FrozenEstimator(model))``: ``fit`` (Hessian,
  factorisation, ``scores_`` self-influence) and ``influence(X_test, y_test)``.
- ``naive dense``: the materialised n × p gradient matrix, the Hessian of scikit-learn's
  objective and ``np.linalg.solve``; also the reference the other results are checked
  against (max |difference| / max |value|).
- ``LeaveOneOutScorer``: actual retraining (n refits), small n only, timed once.
- ``pyDVL DirectInfluence``: on a float64 torch twin of the model (``_peers.py``), when pyDVL
  is importable (its own virtual environment, see README.md). It computes the influence
  matrix only (no self-influence); its values are converted to leave-one-out units before
  the agreement check (pyDVL 0.10.0 returns ``+∇ℓ_tᵀ(H_mean + λI)⁻¹∇ℓ_i``: positive =
  helpful, n times larger). Its λ also penalises the intercept, so agreement with an
  intercept is close but not to rounding; ``--exact-check`` repeats it without intercept.

Timings are the minimum over at least ``--repeats`` warm, uninstrumented runs (more for
calls of milliseconds, up to about one second of runs); peak memory comes
from one more run: the larger of tracemalloc's peak and the rise of the resident set's
high-water mark (which also sees torch). On a shared machine compare the ratios, not the
seconds.

The header names the BLAS libraries that ran (``threadpoolctl.threadpool_info()``: version,
core type, threads) and the ``OPENBLAS_*`` variables in effect.

Run::

    python benchmarks/bench_linear_influence.py                 # n ∈ {1e3,1e4,1e5} × p ∈ {20,100}
    python benchmarks/bench_linear_influence.py --quick         # n ∈ {1e3,1e4}
    python benchmarks/bench_linear_influence.py --gram-routes   # + the Gram by each BLAS route
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_linear_influence.py
"""

import argparse
import gc
import os
import sys
import time
import tracemalloc
import warnings
from functools import partial

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info, threadpool_limits

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.models import _gram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers

C = 1.0


# -- measurement ---------------------------------------------------------------------------
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_mb(fn):
    """Run ``fn()`` once; return (result, peak MB above the level before it, seconds).

    The larger of two measures: tracemalloc's peak (every numpy buffer, even when the heap
    reuses freed memory) and the rise of the resident set's high-water mark (``VmHWM``,
    reset before the call; Linux only), which also sees torch's allocations.
    """
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current VmRSS
        rss_before = _status_kb("VmRSS")
    except OSError:
        rss_before = None
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    try:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1] - traced_before
    finally:
        tracemalloc.stop()
    rss = 0 if rss_before is None else (_status_kb("VmHWM") - rss_before) * 1024
    return result, max(traced, rss) / 2**20, seconds


def timed(fns, repeats, min_total=1.0, max_repeats=200):
    """Time the calls in ``fns`` (name → function) round-robin, warm.

    Interleaving gives every call the same share of a busy machine's quiet and noisy
    moments, so their ratios hold even when the load changes. At least ``repeats`` rounds,
    more when a round is fast (about ``min_total`` seconds of rounds, at most
    ``max_repeats``). Memory comes from one more, instrumented call each; with
    ``repeats=1`` that call is also the one timed (slow methods, no warm-up).
    Returns name → (min seconds, peak MB, result).
    """
    seconds = {name: [] for name in fns}
    if repeats > 1:
        for fn in fns.values():
            fn()  # warm
    total = repeats if repeats > 1 else 0
    done = 0
    while done < total:
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
        done += 1
        if done == 1:
            round_time = max(sum(t[0] for t in seconds.values()), 1e-6)
            total = min(max(repeats, int(min_total / round_time)), max_repeats)
    out = {}
    for name, fn in fns.items():
        result, mb, instrumented_seconds = peak_mb(fn)
        out[name] = (min(seconds[name] or [instrumented_seconds]), mb, result)
    return out


# -- problem and the reference computations -----------------------------------------------
def make_problem(n, p, m, seed, fit_intercept=True):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(p) / np.sqrt(p) * 2.0
    X = rng.standard_normal((n + m, p))
    y = (X @ w + 0.3 + rng.logistic(size=n + m) > 0).astype(np.int64)
    model = LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-10, max_iter=1000)
    model.fit(X[:n], y[:n])
    return X[:n], y[:n], X[n:], y[n:], model


def numpy_reference(X, model, Xt):
    """The exact computation in plain numpy on prepared arrays: GEMMs and one solve."""
    Xa = np.hstack([X, np.ones((len(X), 1))])
    Xta = np.hstack([Xt, np.ones((len(Xt), 1))])
    prob = model.predict_proba(X)[:, 1]
    s = (prob * (1 - prob))[:, None]
    penalty = np.r_[np.full(X.shape[1], 1 / C), 0.0]
    state = {}

    def fit_part():
        H = Xa.T @ (s * Xa)
        H[np.diag_indices_from(H)] += penalty
        state["H_inv"] = np.linalg.solve(H, np.eye(len(H)))
        return np.einsum("ij,ij->i", Xa @ state["H_inv"], Xa)

    def influence_part():
        return Xa @ (state["H_inv"] @ Xta.T)

    return fit_part, influence_part


def naive_dense(X, y, Xt, yt, model):
    """Materialised gradients and Hessian of sklearn's objective (sum form, free intercept)."""
    Xa = np.hstack([X, np.ones((len(X), 1))])
    Xta = np.hstack([Xt, np.ones((len(Xt), 1))])
    prob = model.predict_proba(X)[:, 1]
    G = Xa * (prob - y)[:, None]  # n × p per-sample gradients
    G_test = Xta * (model.predict_proba(Xt)[:, 1] - yt)[:, None]
    H = (Xa * (prob * (1 - prob))[:, None]).T @ Xa
    H[np.diag_indices(X.shape[1])] += 1 / C
    self_influence = np.einsum("ij,ji->i", G, np.linalg.solve(H, G.T))
    influence = (G @ np.linalg.solve(H, G_test.T)).T
    return self_influence, influence


def rel_diff(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# -- the benchmark -------------------------------------------------------------------------
def bench_size(n, p, m, args, rows):
    X, y, Xt, yt, model = make_problem(n, p, m, seed=n + p)

    fit_part, influence_part = numpy_reference(X, model, Xt)
    scorer = InfluenceScorer(FrozenEstimator(model))
    calls = {
        "reference fit": fit_part,
        "reference influence": influence_part,
        "fit": lambda: scorer.fit(X, y),
        "influence": lambda: scorer.influence(Xt, yt),
    }
    if n * p <= args.naive_max:
        calls["naive"] = lambda: naive_dense(X, y, Xt, yt, model)
    res = timed(calls, args.repeats)
    (t_rf, mb_rf, _), (t_ri, mb_ri, _) = res["reference fit"], res["reference influence"]
    (t_f, mb_f, _), (t_i, mb_i, infl) = res["fit"], res["influence"]
    reference, ours = t_rf + t_ri, t_f + t_i
    rows.append(
        ("numpy reference", n, p, m, reference, max(mb_rf, mb_ri), 1.0, f"fit part {t_rf:.3g} s")
    )
    rows.append(
        (
            "skinfluence InfluenceScorer",
            n,
            p,
            m,
            ours,
            max(mb_f, mb_i),
            ours / reference,
            f"fit {t_f / t_rf:.2f}× the reference's, influence {t_i / t_ri:.2f}×; "
            f"Gram kernel {_gram._KERNEL_BY_WIDTH.get(p, _gram._DEFAULT_KERNEL + ' (no probe)')}",
        )
    )
    if "naive" in res:
        t_n, mb_n, (self_ref, infl_ref) = res["naive"]
        agree = max(rel_diff(scorer.scores_, self_ref), rel_diff(infl, infl_ref))
        rows.append(
            (
                "naive dense (n×p gradients)",
                n,
                p,
                m,
                t_n,
                mb_n,
                t_n / reference,
                f"skinfluence vs this: {agree:.1e} rel",
            )
        )

    if n <= args.loo_max:
        loo = LeaveOneOutScorer(LogisticRegression(C=C, tol=1e-10, max_iter=1000), n_jobs=1)
        t_l, mb_l, loo_infl = timed({"loo": lambda: loo.fit(X, y).influence(Xt, yt)}, 1)["loo"]
        r = np.corrcoef(loo_infl.ravel(), infl.ravel())[0, 1]
        rows.append(
            (
                "LeaveOneOutScorer (n refits)",
                n,
                p,
                m,
                t_l,
                mb_l,
                t_l / reference,
                f"Pearson with skinfluence {r:.4f}",
            )
        )

    if args.pydvl and _peers.pydvl_available():
        peer = _peers.PyDVLDirectLogistic(model, n, batch_size=args.pydvl_batch)
        start = time.perf_counter()
        peer.influences(X, y, Xt, yt)  # cold call (first in this size), then warm ones
        cold = time.perf_counter() - start
        repeats = max(1, min(args.repeats, args.peer_repeats))
        # Timed round-robin with skinfluence (fit + influence) for a same-moment ratio.
        pair = timed(
            {
                "pydvl": lambda: peer.influences(X, y, Xt, yt),
                "skinfluence": lambda: scorer.fit(X, y).influence(Xt, yt),
            },
            repeats,
        )
        t_d, mb_d, values = pair["pydvl"]
        ours_paired = pair["skinfluence"][0]
        converted = peer.to_loo_units(values)
        r = np.corrcoef(converted.ravel(), infl.ravel())[0, 1]
        rows.append(
            (
                "pyDVL DirectInfluence",
                n,
                p,
                m,
                t_d,
                mb_d,
                t_d / reference,
                f"{t_d / ours_paired:.1f}× skinfluence; vs skinfluence "
                f"{rel_diff(converted, infl):.1e} rel, Pearson {r:.6f}; cold {cold:.2f} s",
            )
        )


def gram_routes(sizes, p_values, repeats):
    """Seconds of skinfluence's weighted Gram (the Hessian's bulk) through each BLAS route,
    forced, round-robin, on the benchmark's own data; prints a table."""
    print("\n| n_train | p | " + " | ".join(_gram._KERNELS) + " | route kept for this width |")
    print("|---|---|" + "---|" * len(_gram._KERNELS) + "---|")
    for n in sizes:
        for p in p_values:
            X, _, _, _, model = make_problem(n, p, 1, seed=n + p)
            prob = model.predict_proba(X)[:, 1]
            s = prob * (1 - prob)
            routes = {k: partial(_gram.dense_weighted_gram, X, s, kernel=k) for k in _gram._KERNELS}
            res = timed(routes, repeats)
            chosen = _gram._KERNEL_BY_WIDTH.get(p, f"{_gram._DEFAULT_KERNEL} (no probe)")
            seconds = " | ".join(f"{res[k][0]:.3g}" for k in _gram._KERNELS)
            print(f"| {n} | {p} | {seconds} | {chosen} |")


def exact_check(args):
    """pyDVL vs skinfluence without intercept, where the objectives coincide exactly."""
    X, y, Xt, yt, model = make_problem(2000, 20, 50, seed=7, fit_intercept=False)
    ours = InfluenceScorer(FrozenEstimator(model)).fit(X, y).influence(Xt, yt)
    peer = _peers.PyDVLDirectLogistic(model, len(y), batch_size=args.pydvl_batch)
    converted = peer.to_loo_units(peer.influences(X, y, Xt, yt))
    print(
        f"\npyDVL {_peers.pydvl_version()} vs skinfluence, no intercept (n=2000, p=20): "
        f"max |pyDVL/n − skinfluence| / max |skinfluence| = {rel_diff(converted, ours):.1e}; "
        f"with the opposite sign it would be {rel_diff(-converted, ours):.1e}."
    )


def blas_description():
    """The BLAS libraries loaded (threadpoolctl) and the OPENBLAS_* variables in effect."""
    libraries = "; ".join(
        f"{os.path.basename(info['filepath'])} {info.get('version')} "
        f"{info.get('architecture', '')} × {info['num_threads']} threads"
        for info in threadpool_info()
        if info["user_api"] == "blas"
    )
    variables = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    return f"BLAS: {libraries}; environment: {variables or 'no OPENBLAS_* variables'}"


def print_table(rows):
    print("| method | n_train | p | n_test | seconds | peak MB | × numpy reference | note |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, p, m, sec, mb, ratio, note in rows:
        print(f"| {name} | {n} | {p} | {m} | {sec:.3g} | {mb:.1f} | {ratio:.2f} | {note} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n_train in {1e3, 1e4} only")
    parser.add_argument("--n-train", type=int, nargs="*", default=None)
    parser.add_argument("--p", type=int, nargs="*", default=[20, 100])
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5, help="warm runs, minimum reported")
    parser.add_argument("--peer-repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS and torch threads (default 1: stable on a busy machine; 0 = library default)",
    )
    parser.add_argument("--loo-max", type=int, default=1000, help="largest n for LOO")
    parser.add_argument("--naive-max", type=float, default=2e7, help="largest n·p for naive")
    parser.add_argument("--no-pydvl", dest="pydvl", action="store_false")
    parser.add_argument("--pydvl-batch", type=int, default=2048)
    parser.add_argument("--exact-check", action="store_true")
    parser.add_argument(
        "--gram-routes", action="store_true", help="also time the Gram through each BLAS route"
    )
    args = parser.parse_args(argv)
    sizes = args.n_train or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])

    warnings.simplefilter("ignore", FutureWarning)
    limits = threadpool_limits(args.threads) if args.threads else None
    if args.pydvl and _peers.pydvl_available() and args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(
        f"numpy {np.__version__}, threads {args.threads or 'default'}, "
        f"pyDVL {_peers.pydvl_version() if _peers.pydvl_available() else 'not installed'}; "
        f"binary LogisticRegression(C={C}), min of ≥ {args.repeats} warm runs, round-robin"
    )
    print(blas_description())
    rows = []
    for n in sizes:
        for p in args.p:
            done = len(rows)
            bench_size(n, p, args.n_test, args, rows)
            for row in rows[done:]:
                print("  " + "  ".join(map(str, row[:5])) + f"  {row[-1]}", file=sys.stderr)
    print()
    print_table(rows)
    if args.gram_routes:
        gram_routes(sizes, args.p, args.repeats)
    if args.exact_check and args.pydvl and _peers.pydvl_available():
        exact_check(args)
    del limits


if __name__ == "__main__":
    main()
