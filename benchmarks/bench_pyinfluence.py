"""skinfluence against pyinfluence 0.5 on every model both support: agreement and time.

pyinfluence ("training data attribution for scikit-learn models") runs in ITS OWN virtual
environment (never a dependency; ``PYINFLUENCE_PYTHON``, default
``/work/venvs/pyinfluence/bin/python``), through a subprocess (``_pyinfluence_run.py``) on the
pickled fitted model. Models: Ridge, RidgeCV, LinearRegression, binary LogisticRegression,
LogisticRegressionCV, RidgeClassifier, KernelRidge (rbf). Synthetic data, one run:

(a) **Agreement with actual leave-one-out**: ``LeaveOneOutScorer(warm_start=False)`` (cold
    refits with the model's own solver at tol 1e-10) on ``--agree-n`` rows, influence on 100
    test rows; Pearson over all (test, removed) pairs of skinfluence's first-order
    ``InfluenceScorer``, its ``newton_step=True`` and pyinfluence's ``InfluenceFunctions``
    (default damping 1e-5). The explained model is fitted at tol 1e-10 too. "scale" is the
    least-squares slope of pyinfluence's values on ours (0.5 for squared loss: pyinfluence
    uses half the squared error).

(b) **Time** at n ∈ {10⁴, 10⁵} × p ∈ {20, 100}, models with their default settings (fitted
    once, not timed; both libraries take the same fitted model), 100 test rows:

    - *fit + matrix*: ``InfluenceScorer(FrozenEstimator(m)).fit(X, y).influence(Xt, yt)`` vs
      ``InfluenceFunctions().fit(m, X, y).explain(Xt, yt)``;
    - *self-influence*: ``InfluenceScorer(...).fit(X, y).scores_`` vs
      ``self_influence(InfluenceFunctions().fit(m, X, y))``;
    - *numpy reference* (linear models): the same computation in plain numpy from the data
      and the fitted parameters (``reference_calls``): ``X̃ = [X, 1]``, outputs, residuals
      and curvature, the Gram ``X̃ᵀ(s ⊙ X̃)`` as one GEMM, ``solve(H, I)``; then
      ``(r ⊙ X̃) H⁻¹ (r_t ⊙ X̃_t)ᵀ`` for fit + matrix, ``Σ_j (X̃H⁻¹)_ij X̃_ij r_i²`` for
      self-influence; each ratio against the reference of the same path;
    - *exact leave-one-out of every row* (+ the 100 test rows' losses under each refit):
      ``LeaveOneOutScorer(m).fit(X, y).influence(Xt, yt)`` (Newton refits sharing one
      factorisation, to 1e-10) vs ``LOOInfluence``'s per-row work (clone + fit at the model's
      own tol + test losses), timed on as many rows as fit in ``--loo-budget`` seconds and
      multiplied by n. Both re-run the CV models' selection in every refit: ours RidgeCV's in
      closed form (timed as the Newton refits), ours LogisticRegressionCV's by Newton refits
      of every (fold, C) model and of the final one (``_loo_logistic_cv.py``; its n refits by
      the model's own solver, the path before, timed as theirs are, go in the note). Our
      O(n² p) Newton refits are run at n = 10⁴ only; at 10⁵ their time is the 10⁴ time × 100
      (marked "est.").

    KernelRidge only at n = 2000 (``--krr-n``): both hold n × n matrices and pyinfluence
    inverts an n × n Hessian (O(n³), plus a condition number by SVD), out of reach at 10⁴.
    Warm runs, minimum of ``--repeats``; ours and the numpy reference round-robin in this
    process; pyinfluence in its process right before. One BLAS thread each (``--threads``).

(c) What pyinfluence has that skinfluence lacks is listed in benchmarks/README.md.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_pyinfluence.py
    python benchmarks/bench_pyinfluence.py --quick     # agreement at 150 rows, n = 10⁴, p = 20
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
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeClassifier,
    RidgeCV,
)
from threadpoolctl import threadpool_limits

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.scorers._base import fit_clone
from skinfluence.scorers._loo import _refit_without, _tightened, resolve_refit_tol
from skinfluence.scorers._losses import per_sample_loss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_linear_influence
from bench_linear_influence import blas_description, timed

# The clock of every timing here (``--cpu-time``: this process's CPU time, see main).
clock = time.perf_counter


def use_cpu_time():
    """Time with ``time.process_time``: the CPU this process used, which on a machine loaded
    by other jobs stays what an idle machine's wall clock would show (one BLAS thread),
    where the wall clock adds the time spent waiting for a core."""
    global clock
    clock = time.process_time
    bench_linear_influence.time = type("Clock", (), {"perf_counter": staticmethod(clock)})


PEER_PYTHON = os.environ.get("PYINFLUENCE_PYTHON", "/work/venvs/pyinfluence/bin/python")
RUNNER = Path(__file__).with_name("_pyinfluence_run.py")

# name → (task, factory(p))
MODELS = {
    "Ridge": ("regression", lambda p: Ridge(alpha=1.0)),
    "RidgeCV": ("regression", lambda p: RidgeCV(alphas=(0.1, 1.0, 10.0))),
    "LinearRegression": ("regression", lambda p: LinearRegression()),
    "LogisticRegression": ("binary", lambda p: LogisticRegression(C=1.0, max_iter=1000)),
    "LogisticRegressionCV": (
        "binary",
        lambda p: LogisticRegressionCV(Cs=[0.1, 1.0, 10.0], cv=3, max_iter=1000),
    ),
    "RidgeClassifier": ("binary", lambda p: RidgeClassifier(alpha=1.0)),
    "KernelRidge": ("regression", lambda p: KernelRidge(alpha=1.0, kernel="rbf", gamma=1.0 / p)),
}
CV_MODELS = ("RidgeCV", "LogisticRegressionCV")
# Ours refits these n times too (RidgeCV's selection is re-run in closed form instead, and
# LogisticRegressionCV's by Newton refits of every fold model since 2026-12-02; its n refits
# by the model's own solver, the path before, are timed as well and put in the note).
REFIT_CV_MODELS = ()
SEARCH_BY_NEWTON = ("LogisticRegressionCV",)


def make_data(task, n, p, m, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(p) / np.sqrt(p) * 2.0
    X = rng.standard_normal((n + m, p))
    if task == "regression":
        y = X @ w + 0.5 + rng.standard_normal(n + m)
    else:
        y = (X @ w + 0.3 + rng.logistic(size=n + m) > 0).astype(np.int64)
    return X[:n], y[:n], X[n:], y[n:]


def tight(est):
    params = est.get_params(deep=False)
    if "tol" in params:
        est.set_params(tol=1e-10)
    if "max_iter" in params:
        est.set_params(max_iter=10_000)
    return est


def peer(model, X, y, Xt, yt, tasks, args):
    """pyinfluence's results (see ``_pyinfluence_run.py``), or None when it is not installed."""
    if not Path(PEER_PYTHON).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.pkl"), Path(tmp, "out.pkl")
        with open(src, "wb") as f:
            pickle.dump(
                {
                    "model": model,
                    "X_train": X,
                    "y_train": y,
                    "X_test": Xt,
                    "y_test": yt,
                    "tasks": tasks,
                    "repeats": args.repeats,
                    "loo_budget": args.loo_budget,
                    "loo_max_rows": args.loo_max_rows,
                },
                f,
            )
        env = dict(os.environ, **{k: str(args.threads) for k in THREAD_VARS})
        subprocess.run([PEER_PYTHON, str(RUNNER), str(src), str(dst)], check=True, env=env)
        with open(dst, "rb") as f:
            return pickle.load(f)


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def import_peer():
    """pyinfluence imported into THIS process (``--in-process``), or None.

    Only for timing on a loaded machine: both environments hold the same numpy, scipy and
    scikit-learn (checked), so the peer's site-packages is appended to ``sys.path`` after ours
    and only the ``pyinfluence`` package (and its small pure-Python helpers) come from it.
    """
    site = Path(PEER_PYTHON).parent.parent / "lib"
    found = sorted(site.glob("python3*/site-packages"))
    if not found:
        return None
    if str(found[0]) not in sys.path:
        sys.path.append(str(found[0]))
    try:
        import pyinfluence
        from pyinfluence import InfluenceFunctions, self_influence
        from pyinfluence._loo import _fit_loo_model
        from pyinfluence._utils import _value_at_test
    except ImportError:
        return None
    return {
        "version": pyinfluence.__version__,
        "InfluenceFunctions": InfluenceFunctions,
        "self_influence": self_influence,
        "fit_loo_model": _fit_loo_model,
        "value_at_test": _value_at_test,
    }


def peer_loo_per_row(peer_mod, model, X, y, Xt, yt, budget, max_rows, seed=0):
    """Seconds per row of pyinfluence's LOOInfluence work, in this process."""
    from sklearn.base import is_classifier

    classifier = is_classifier(model)
    rows = np.random.default_rng(seed).permutation(len(y))[:max_rows]
    start, done = clock(), 0
    for i in rows:
        refit = peer_mod["fit_loo_model"](model, X, y, int(i))
        peer_mod["value_at_test"](refit, Xt, yt, "loss", classifier)
        done += 1
        if clock() - start > budget:
            break
    return (clock() - start) / done, done


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


# -- (a) agreement -------------------------------------------------------------------------
def agreement(args):
    rows = []
    for name, (task, factory) in MODELS.items():
        X, y, Xt, yt = make_data(task, args.agree_n, args.agree_p, 100, seed=1)
        model = tight(factory(args.agree_p)).fit(X, y)
        loo = LeaveOneOutScorer(factory(args.agree_p), warm_start=False).fit(X, y)
        truth = loo.influence(Xt, yt)
        first = InfluenceScorer(FrozenEstimator(model)).fit(X, y).influence(Xt, yt)
        try:
            newton = InfluenceScorer(FrozenEstimator(model), newton_step=True).fit(X, y)
            newton_values = newton.influence(Xt, yt)
            r_newton = f"{pearson(newton_values, truth):.4f}"
        except (TypeError, ValueError) as exc:
            newton_values, r_newton = None, f"n/a ({type(exc).__name__})"
        theirs = peer(model, X, y, Xt, yt, ["matrix"], args)
        if theirs is None:
            r_theirs, scale = "not installed", float("nan")
        else:
            t = theirs["matrix"]
            r_theirs = f"{pearson(t, truth):.4f}"
            scale = float(np.vdot(t, first) / np.vdot(first, first))
        rows.append((name, pearson(first, truth), r_newton, r_theirs, scale))
        print(f"  agreement {name}: {rows[-1]}", file=sys.stderr, flush=True)
        if name in CV_MODELS:
            # Actual leave-one-out re-runs the selection; both libraries hold it fixed. The
            # same model at the selected value isolates what the influence approximates.
            fixed = (
                Ridge(alpha=model.alpha_)
                if name == "RidgeCV"
                else LogisticRegression(C=float(model.C_[0]), max_iter=1000)
            )
            truth = LeaveOneOutScorer(fixed, warm_start=False).fit(X, y).influence(Xt, yt)
            rows.append(
                (
                    f"{name}, selection held fixed in the refits",
                    pearson(first, truth),
                    r_newton if newton_values is None else f"{pearson(newton_values, truth):.4f}",
                    r_theirs if theirs is None else f"{pearson(theirs['matrix'], truth):.4f}",
                    scale,
                )
            )
    print(
        f"\n(a) Pearson with actual leave-one-out (cold refits), n = {args.agree_n}, "
        f"p = {args.agree_p}, 100 test rows, all pairs"
    )
    print("| model | ours first order | ours Newton step | pyinfluence | pyinfluence ÷ ours |")
    print("|---|---|---|---|---|")
    for name, r_first, r_newton, r_theirs, scale in rows:
        print(f"| {name} | {r_first:.4f} | {r_newton} | {r_theirs} | {scale:.3f} |")


# -- (b) time ------------------------------------------------------------------------------
def reference_calls(name, model, X, y, Xt, yt):
    """Plain-numpy fit part, influence part and self-influence part, for the linear models;
    None for KernelRidge.

    Like for like with ``InfluenceScorer``: only the data (X, y, X_test, y_test) and the
    fitted parameters are prepared outside the clock. ``fit`` forms ``X̃ = [X, 1]``, the
    outputs, residuals and curvature of the training rows, the Hessian (one GEMM) and its
    inverse (``solve(H, I)``); ``influence`` the test rows' gradients and
    ``(r ⊙ X̃) (H⁻¹ G_testᵀ)``; ``self`` ``Σ_j (X̃H⁻¹)_ij X̃_ij r_i²`` after ``fit``. (Until
    2026-12-03 the outputs and residuals were prepared outside the clock and the fit part
    also computed the self-influence, which ``fit`` + ``influence`` no longer does.)
    """
    if name == "KernelRidge":
        return None
    fit_intercept = model.fit_intercept
    p = X.shape[1]
    coef = np.ravel(model.coef_).astype(np.float64)
    theta = np.r_[coef, np.ravel(model.intercept_)[:1]] if fit_intercept else coef
    logistic = name.startswith("Logistic")
    if logistic:
        lam = 1.0 / float(np.ravel(model.C_ if hasattr(model, "C_") else model.C)[0])
        target, target_t = y.astype(np.float64), yt.astype(np.float64)
    else:
        lam = float(getattr(model, "alpha_", getattr(model, "alpha", 0.0)))
        if name == "RidgeClassifier":  # ±1 targets of its least squares
            target, target_t = 2.0 * y - 1, 2.0 * yt - 1
        else:
            target, target_t = y, yt
    penalty = np.r_[np.full(p, lam), [0.0] * fit_intercept]

    def augment(A):
        return np.hstack([A, np.ones((len(A), 1))]) if fit_intercept else A

    def residuals(A, t):
        eta = A @ theta
        if not logistic:
            return eta - t, None
        prob = 1.0 / (1.0 + np.exp(-eta))
        return prob - t, prob * (1 - prob)

    state = {}

    def fit_part():
        Xa = augment(X)
        r, s = residuals(Xa, target)
        H = Xa.T @ (Xa if s is None else s[:, None] * Xa)
        H[np.diag_indices_from(H)] += penalty
        state.update(Xa=Xa, r=r, H_inv=np.linalg.solve(H, np.eye(len(H))))

    def influence_part():
        Xta = augment(Xt)
        G_t = Xta * residuals(Xta, target_t)[0][:, None]
        return (state["Xa"] * state["r"][:, None]) @ (state["H_inv"] @ G_t.T)

    def self_part():
        Xa = state["Xa"]
        return np.einsum("ij,ij->i", Xa @ state["H_inv"], Xa) * state["r"] ** 2

    return fit_part, influence_part, self_part


def our_loo_per_row(factory, p, X, y, Xt, yt, args, refit_tol="auto"):
    """Seconds per row of skinfluence's cold refit (CV models): LeaveOneOutScorer's own routine
    (its default ``refit_tol="auto"``: the model's own tolerance for a CV search, as
    pyinfluence refits; 1e-10 for the tight refits of before)."""
    base = fit_clone(_tightened(factory(p), resolve_refit_tol(factory(p), refit_tol)), X, y, None)
    rng = np.random.default_rng(0)
    start, done = clock(), 0
    for i in rng.permutation(len(y))[: args.loo_max_rows]:
        (m,) = _refit_without(base, X, y, None, [int(i)], False)
        per_sample_loss(m, Xt, yt)
        done += 1
        if clock() - start > args.loo_budget:
            break
    return (clock() - start) / done


def bench(name, n, p, args, rows, loo_cache):
    task, factory = MODELS[name]
    X, y, Xt, yt = make_data(task, n, p, args.n_test, seed=n + p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = factory(p).fit(X, y)
    do_loo = not args.no_loo
    peer_mod = args.peer_module
    if peer_mod is None:
        theirs = peer(model, X, y, Xt, yt, ["matrix", "self"] + ["loo"] * do_loo, args)

    calls = {
        "matrix": lambda: InfluenceScorer(FrozenEstimator(model)).fit(X, y).influence(Xt, yt),
        "self": lambda: InfluenceScorer(FrozenEstimator(model)).fit(X, y).scores_,
    }
    if peer_mod is not None:
        IF, self_infl = peer_mod["InfluenceFunctions"], peer_mod["self_influence"]
        calls["theirs matrix"] = lambda: IF().fit(model, X, y).explain(Xt, yt)
        calls["theirs self"] = lambda: self_infl(IF().fit(model, X, y))
    ref = reference_calls(name, model, X, y, Xt, yt)
    if ref is not None:
        calls["ref fit"], calls["ref influence"], calls["ref self"] = ref
    res = timed(calls, args.repeats, min_total=0.5, max_repeats=20)
    ours_matrix, ours_self = res["matrix"][0], res["self"][0]
    if peer_mod is not None:
        theirs = {
            "matrix": res["theirs matrix"][2],
            "matrix_seconds": res["theirs matrix"][0],
            "self_seconds": res["theirs self"][0],
        }
        if do_loo:
            # half of the peer's rows before ours, half after: the same load for both
            half = args.loo_budget / 2
            first = peer_loo_per_row(peer_mod, model, X, y, Xt, yt, half, args.loo_max_rows)
    nan = float("nan")
    reference = res["ref fit"][0] + res["ref influence"][0] if ref is not None else nan
    reference_self = res["ref fit"][0] + res["ref self"][0] if ref is not None else nan
    if theirs is not None:
        check = pearson(theirs["matrix"], res["matrix"][2])
    if ref is not None:  # the reference computes the same matrix (transposed; half our
        # units for the squared-loss models, whose loss we take without the ½)
        agreement = pearson(res["ref influence"][2].T, res["matrix"][2])
        assert agreement > 1 - 1e-9, f"the reference disagrees: Pearson {agreement}"
    loo_ours = loo_theirs = float("nan")
    loo_note = ""
    if do_loo:
        if name in REFIT_CV_MODELS:
            loo_ours = our_loo_per_row(factory, p, X, y, Xt, yt, args) * n
            tight = our_loo_per_row(factory, p, X, y, Xt, yt, args, refit_tol=1e-10) * n
            loo_note = f"both: refits × n; ours at refit_tol=1e-10 {tight:.3g} s"
        elif n <= args.loo_n_max:
            start = clock()
            LeaveOneOutScorer(factory(p)).fit(X, y).influence(Xt, yt)
            loo_ours = clock() - start
            loo_cache[name, p] = (n, loo_ours)
            loo_note = "ours measured"
            if name in SEARCH_BY_NEWTON:
                before = our_loo_per_row(factory, p, X, y, Xt, yt, args) * n
                loo_note += f"; ours by refits × n (before) {before:.3g} s"
        elif (name, p) in loo_cache:
            n0, t0 = loo_cache[name, p]
            loo_ours = t0 * (n / n0) ** 2
            loo_note = f"ours est. from n = {n0} × (n/{n0})²"
        if peer_mod is not None:
            second = peer_loo_per_row(
                peer_mod, model, X, y, Xt, yt, half, args.loo_max_rows, seed=1
            )
            rows_done = first[1] + second[1]
            theirs["loo_seconds_per_row"] = (first[0] * first[1] + second[0] * second[1]) / (
                rows_done
            )
            theirs["loo_rows"] = rows_done
        if theirs is not None:
            loo_theirs = theirs["loo_seconds_per_row"] * n
            loo_note += f"; theirs {theirs['loo_rows']} rows × n"
    t_matrix = theirs["matrix_seconds"] if theirs else float("nan")
    t_self = theirs["self_seconds"] if theirs else float("nan")
    rows.append(
        (
            name,
            n,
            p,
            ours_matrix,
            t_matrix,
            ours_matrix / reference,
            ours_self,
            t_self,
            ours_self / reference_self,
            loo_ours,
            loo_theirs,
            loo_note + (f"; Pearson(ours, theirs) {check:.6f}" if theirs else ""),
        )
    )
    r = rows[-1]
    print(
        f"  {r[:3]} matrix {r[3]:.3g}/{r[4]:.3g} (ref {r[5]:.2f}) self {r[6]:.3g}/{r[7]:.3g} "
        f"(ref {r[8]:.2f}) loo {r[9]:.3g}/{r[10]:.3g} {r[11]}",
        file=sys.stderr,
        flush=True,
    )


def print_times(rows):
    print(
        "\n(b) Seconds (ours / pyinfluence) and pyinfluence ÷ ours (> 1: we are faster); "
        "ours ÷ the numpy reference of the same computation (fit + matrix; fit + self-influence)"
    )
    print(
        "| model | n | p | fit + matrix ours / theirs | theirs ÷ ours | ours ÷ numpy ref | "
        "self-influence ours / theirs | theirs ÷ ours | ours ÷ numpy ref | "
        "leave-one-out ours / theirs | theirs ÷ ours | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, p, om, tm, ref, os_, ts, ref_self, ol, tl, note in rows:
        print(
            f"| {name} | {n} | {p} | {om:.3g} / {tm:.3g} | {tm / om:.2f} | {ref:.2f} | "
            f"{os_:.3g} / {ts:.3g} | {ts / os_:.2f} | {ref_self:.2f} | {ol:.3g} / {tl:.3g} | "
            f"{tl / ol:.1f} | {note} |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="agreement at 150 rows; n=1e4, p=20")
    parser.add_argument("--n-train", type=int, nargs="*", default=None)
    parser.add_argument("--p", type=int, nargs="*", default=None)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--agree-n", type=int, default=None)
    parser.add_argument("--agree-p", type=int, default=50)
    parser.add_argument("--krr-n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loo-budget", type=float, default=6.0, help="seconds of peer refits")
    parser.add_argument("--loo-max-rows", type=int, default=200)
    parser.add_argument("--loo-n-max", type=int, default=10_000, help="largest n for our LOO")
    parser.add_argument("--no-loo", action="store_true")
    parser.add_argument("--no-agreement", action="store_true")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="time pyinfluence in this process, round-robin with ours (a loaded machine)",
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with process_time (CPU of this process; for a loaded machine)",
    )
    args = parser.parse_args(argv)
    if args.cpu_time:
        use_cpu_time()
    sizes = args.n_train or ([10_000] if args.quick else [10_000, 100_000])
    p_values = args.p or ([20] if args.quick else [20, 100])
    args.agree_n = args.agree_n or (150 if args.quick else 300)
    if args.quick:
        args.loo_budget = min(args.loo_budget, 2.0)
        args.krr_n = min(args.krr_n, 1000)

    warnings.simplefilter("ignore", FutureWarning)
    limits = threadpool_limits(args.threads) if args.threads else None
    found = "found" if Path(PEER_PYTHON).exists() else "MISSING: its rows are skipped"
    print(f"pyinfluence python: {PEER_PYTHON} ({found})")
    print(blas_description())
    args.peer_module = import_peer() if args.in_process else None
    if args.in_process:
        print(f"pyinfluence in this process: {args.peer_module is not None}")
    if not args.no_agreement:
        agreement(args)
    if not args.no_timing:
        rows, loo_cache = [], {}
        for name in args.models:
            for p in p_values:
                for n in [args.krr_n] if name == "KernelRidge" else sizes:
                    bench(name, n, p, args, rows, loo_cache)
                if name == "KernelRidge":
                    break
        print_times(rows)
    del limits


if __name__ == "__main__":
    main()
