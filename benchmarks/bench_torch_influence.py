"""Influence for a small MLP (skorch): our solvers against the exact `direct` path and LOO.

For each data set (digits, a synthetic tabular task) an MLP with one hidden layer (~2.4k
parameters) is trained to convergence with weight decay (Adam, then L-BFGS on the same
objective until the gradient vanishes). Influence of every training row on ``--n-test`` test
rows is computed with each solver; the table gives time, peak memory (RSS growth of a forked
child running the method), the Pearson and Spearman correlations with `direct` and the slope
of a least-squares fit against it (1: the same sign and units), with the load average at the
start and end of each table; torch and BLAS run one thread each. On a ``--n-loo``-row
subset, every method is also compared with actual leave-one-out retraining (warm-started from
the full-data optimum, polished to convergence).

Peers (pyDVL CgInfluence / LissaInfluence / ArnoldiInfluence, Captum TracInCP /
ArnoldiInfluenceFunction) run when importable (their own virtualenv, see benchmarks/README.md).

    python benchmarks/bench_torch_influence.py [--quick]
"""

import argparse
import multiprocessing as mp
import os
import resource
import time
import warnings
from functools import partial

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits, make_classification
from skorch import NeuralNetClassifier
from threadpoolctl import threadpool_limits

from skinfluence import LeaveOneOutScorer
from skinfluence.inverse import make_solver
from skinfluence.models import adapter_for

# One thread for torch and for BLAS/LAPACK, every method alike: on the shared 2-core machine a
# second OpenBLAS thread made ARPACK's reverse-communication loop 20x slower under load.
torch.set_num_threads(1)
threadpool_limits(1)
nn = torch.nn


class MLP(nn.Module):
    def __init__(self, n_in=64, hidden=32, n_out=10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden, dtype=torch.float64)
        self.fc2 = nn.Linear(hidden, n_out, dtype=torch.float64)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


class ConvergedMLP(NeuralNetClassifier):
    """Adam epochs, then L-BFGS on mean loss + wd/2 ‖θ‖² until the gradient vanishes."""

    def fit(self, X, y, **fit_params):
        # Leave-one-out refits (warm_start) start at the full-data optimum: L-BFGS only.
        if not (self.warm_start and getattr(self, "initialized_", False)):
            super().fit(X, y, **fit_params)
        wd = self.optimizer__weight_decay
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        params = list(self.module_.parameters())
        opt = torch.optim.LBFGS(
            params,
            lr=1,
            max_iter=2000,
            tolerance_grad=1e-10,
            tolerance_change=1e-14,
            history_size=50,
            line_search_fn="strong_wolfe",
        )

        def closure():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(self.module_(Xt), yt)
            loss = loss + wd / 2 * sum((p**2).sum() for p in params)
            loss.backward()
            return loss

        opt.step(closure)
        return self


def make_net(n_in, n_out, hidden, wd, epochs):
    return ConvergedMLP(
        MLP,
        module__n_in=n_in,
        module__hidden=hidden,
        module__n_out=n_out,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        optimizer__weight_decay=wd,
        max_epochs=epochs,
        batch_size=-1,
        train_split=None,
        verbose=0,
    )


def datasets(n_train, n_test):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(y))
    yield "digits", X[idx], y[idx], 32
    Xs, ys = make_classification(
        n_samples=n_train + n_test,
        n_features=20,
        n_informative=10,
        n_classes=3,
        flip_y=0.02,
        random_state=0,
    )
    yield "synthetic", (Xs - Xs.mean(0)) / Xs.std(0), ys, 96


def _in_child(fn, queue):
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss
    queue.put(
        (
            out,
            elapsed,
            peak / 1024,
            sorted({str(w.message)[:80] for w in caught if "jit" not in str(w.message)}),
        )
    )


def measured(fn):
    """(result, seconds, peak RSS growth in MB, warnings) of fn() run in a forked child."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(fn, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def ours(method, damping, **params):
    def run(adapter, Xtr, ytr, Xte, yte):
        solver = make_solver(method, damping=damping, **params).fit(adapter, Xtr, ytr)
        T = adapter.gradients(Xte, yte).dense_rows(slice(None)).T
        return adapter.gradients(Xtr, ytr).matmul(solver.solve(T)).T  # (m, n)

    return run


def pydvl_methods(net, n, wd, damping, scale, lissa_only=False):
    """pyDVL's CG / LiSSA / Arnoldi on the same module, converted to our units, or {}.

    pyDVL 0.10 returns ``+∇ℓ_tᵀ (H_mean + λI)⁻¹ ∇ℓ_i`` for the mean-loss Hessian without the
    optimizer's weight decay: λ = wd + damping/n gives our ``H + damping·I`` divided by n, so
    its values divided by n are in our leave-one-out units and sign.
    """
    try:
        from pydvl.influence import InfluenceMode
        from pydvl.influence.torch import ArnoldiInfluence, CgInfluence, LissaInfluence
    except ImportError:
        return {}
    from torch.utils.data import DataLoader, TensorDataset

    reg = wd + damping / n
    loss = nn.functional.cross_entropy

    def make(cls, batch_size=None, seed=0, **kw):
        def run(adapter, Xtr, ytr, Xte, yte):
            torch.manual_seed(seed)  # pyDVL's minibatches come from torch's global generator
            data = TensorDataset(torch.as_tensor(Xtr), torch.as_tensor(ytr))
            model = cls(net.module_, loss, regularization=reg, **kw)
            model = model.fit(DataLoader(data, batch_size=batch_size or len(ytr)))
            out = model.influences(
                torch.as_tensor(Xte),
                torch.as_tensor(yte),
                torch.as_tensor(Xtr),
                torch.as_tensor(ytr),
                mode=InfluenceMode.Up,
            )
            return out.detach().numpy() / len(ytr)

        return run

    if lissa_only:

        def lissa(depth, batch_size, seed=0):
            return make(LissaInfluence, batch_size, seed, maxiter=depth, scale=scale / n)

        return {"lissa": lissa}
    return {
        "pyDVL CgInfluence (rtol 1e-6)": make(CgInfluence, rtol=1e-6, atol=1e-10),
        "pyDVL ArnoldiInfluence rank 200": make(ArnoldiInfluence, rank=200),
        "pyDVL LissaInfluence 1000 its, full batch": make(
            LissaInfluence, maxiter=1000, scale=scale / n
        ),
        "pyDVL LissaInfluence 1000 its, batch 100": make(
            LissaInfluence, maxiter=1000, scale=scale / n, batch_size=100
        ),
    }


def lissa_sweep(net, adapter, Xtr, ytr, Xte, yte, wd, damping, scale, reference, seeds=3):
    """Agreement against time for LiSSA, ours and pyDVL's, over depth and batch size.

    Every run uses the same scale and damping. Minibatch runs are repeated over ``seeds``
    seeds (ours: ``random_state``; pyDVL: torch's global seed, which its shuffled
    ``DataLoader`` draws from) and reported as mean ± std. Ours averages the iterates of the
    second half of a minibatch run (the default) and is also run with the last iterate
    (``burn_in = depth - 1``, the classic recursion that pyDVL runs) and with float32 products
    (``dtype=np.float32``: pyDVL computes in the module's float32). The last two tables give,
    for every pyDVL setting, the fastest of our float64 and of our float32 settings whose mean
    agreement is at least as high.
    """
    n = len(ytr)
    f32 = np.float32
    peers = pydvl_methods(net, n, wd, damping, scale, lissa_only=True)
    ref = reference.ravel()
    rows = []

    def record(label, depth, batch, fns):
        times, pearsons = [], []
        for fn in fns:
            infl, sec, _, _ = measured(partial(fn, adapter, Xtr, ytr, Xte, yte))
            times.append(sec)
            pearsons.append(pearsonr(infl.ravel(), ref)[0])
        rows.append((label, depth, batch, np.mean(times), np.mean(pearsons), np.std(pearsons)))
        print(
            f"| {label} | {depth} | {batch} | {np.mean(times):.2f} | {np.mean(pearsons):.6f} "
            f"± {np.std(pearsons):.6f} |",
            flush=True,
        )

    print(f"LiSSA sweep (load average at start: {os.getloadavg()})")
    print("| method | depth | batch | time (s) | Pearson vs direct (mean ± std over seeds) |")
    print("|---|---|---|---|---|")
    for depth in (100, 200, 300, 500, 1000):
        for batch in ("all", 100, 50):
            kw = {"depth": depth, "scale": scale}
            if batch == "all":
                record("ours", depth, batch, [ours("lissa", damping, **kw)])
                record("ours, float32", depth, batch, [ours("lissa", damping, dtype=f32, **kw)])
            else:
                variants = (
                    ("ours", {}),
                    ("ours, last iterate", {"burn_in": depth - 1}),
                    ("ours, float32", {"dtype": f32}),
                )
                for label, extra in variants:
                    fns = [
                        ours("lissa", damping, batch_size=batch, random_state=seed, **extra, **kw)
                        for seed in range(seeds)
                    ]
                    record(label, depth, batch, fns)
            if peers:
                make = peers["lissa"]
                if batch == "all":
                    record("pyDVL", depth, batch, [make(depth, None)])
                else:
                    record(
                        "pyDVL", depth, batch, [make(depth, batch, seed) for seed in range(seeds)]
                    )
    print(f"load average at end: {os.getloadavg()}")
    if not peers:
        return
    print_fastest_matches(rows, "ours")  # float64 products
    print_fastest_matches(rows, "ours, float32")  # pyDVL's precision: the module's float32


def print_fastest_matches(rows, label, resolution=1e-6):
    """For each pyDVL row, the fastest of our rows (``label``, averaged iterates with
    minibatches) whose mean Pearson is at least as high.

    Rows are (method, depth, batch, seconds, mean Pearson, std). Pearson values within
    ``resolution`` count as equal, so that the same deterministic iterates (full batch, equal
    depth) match despite the libraries' different rounding; deeper full-batch runs differ by
    more (digits: 0.99997 at depth 500, 0.99999997 at 1 000) and are not matched.
    """
    print(f"\nFor each pyDVL setting, the fastest of {label} with at least its mean agreement:")
    print("| pyDVL depth, batch | pyDVL time (s) | pyDVL Pearson | ours | ours time (s) "
          "| ours Pearson | time ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    mine = [r for r in rows if r[0] == label]
    for _, depth, batch, t, r, _ in (r for r in rows if r[0] == "pyDVL"):
        good = [m for m in mine if m[4] >= r - resolution]
        if not good:
            print(f"| {depth}, {batch} | {t:.2f} | {r:.6f} | none as good | | | |")
            continue
        best = min(good, key=lambda m: m[3])
        print(
            f"| {depth}, {batch} | {t:.2f} | {r:.6f} | depth {best[1]}, batch {best[2]} "
            f"| {best[3]:.2f} | {best[4]:.6f} | {best[3] / t:.2f}× |"
        )


def captum_methods(net, n, wd, damping, rank=200):
    """Captum's ArnoldiInfluenceFunction on the same module, or {}.

    Captum 0.9 takes the Hessian of the *summed* loss (``reduction="none"`` losses are summed)
    without the optimizer's weight decay, adds ``hessian_reg`` to the diagonal of its
    restriction to the Krylov subspace, and returns ``+∇ℓ_tᵀ R Rᵀ ∇ℓ_i`` with ``R Rᵀ`` the
    inverse on the top ``projection_dim`` eigenvectors: with ``hessian_reg = n·wd + damping``
    that is our sign and units as they are (no conversion; the printed least-squares slope
    against `direct` checks it). It has no restarts: ``arnoldi_dim`` HVPs build one Krylov
    space, so it is run with 2 × and 3 × the rank.
    """
    try:
        from captum.influence._core.arnoldi_influence_function import (
            ArnoldiInfluenceFunction,
        )
    except ImportError:
        return {}
    import tempfile

    from torch.utils.data import TensorDataset

    def make(arnoldi_dim):
        def run(adapter, Xtr, ytr, Xte, yte):
            path = tempfile.mktemp(suffix=".pt")
            torch.save(net.module_.state_dict(), path)
            model = ArnoldiInfluenceFunction(
                net.module_,
                TensorDataset(torch.as_tensor(Xtr), torch.as_tensor(ytr)),
                checkpoint=path,
                loss_fn=nn.CrossEntropyLoss(reduction="none"),
                batch_size=len(ytr),
                projection_dim=rank,
                arnoldi_dim=arnoldi_dim,
                hessian_reg=n * wd + damping,
                seed=0,
            )
            out = model.influence((torch.as_tensor(Xte), torch.as_tensor(yte)))
            return out.detach().numpy()

        return run

    return {
        f"Captum ArnoldiInfluenceFunction rank {rank}, arnoldi_dim {k * rank}": make(k * rank)
        for k in (2, 3)
    }


def tracin_vs_captum(X, y, Xte, yte, hidden, n_checkpoints=5, tmpdir="/tmp"):
    """TracInCP over ``n_checkpoints`` epochs: our TracInScorer against Captum's, when present."""
    import tempfile

    from sklearn.frozen import FrozenEstimator

    from skinfluence import TracInScorer

    torch.manual_seed(0)
    net = make_net(X.shape[1], len(np.unique(y)), hidden, 1e-3, epochs=1)
    net.initialize()
    lr = 0.01
    states, paths = [], []
    folder = tempfile.mkdtemp(dir=tmpdir)
    for epoch in range(n_checkpoints):
        net.partial_fit(X, y)
        state = {k: v.clone() for k, v in net.module_.state_dict().items()}
        states.append(state)
        paths.append(f"{folder}/ckpt_{epoch}.pt")
        torch.save(state, paths[-1])
    t0 = time.perf_counter()
    ours = TracInScorer(FrozenEstimator(net), checkpoints=states, learning_rates=lr)
    ours = ours.fit(X, y).influence(Xte, yte)
    t_ours = time.perf_counter() - t0
    print(f"\nTracInCP, {n_checkpoints} checkpoints, n={len(y)}, {len(yte)} test rows:")
    print("| method | time (s) | Pearson vs ours | max relative difference |")
    print("|---|---|---|---|")
    print(f"| skinfluence TracInScorer | {t_ours:.2f} | 1 | 0 |")
    try:
        from captum.influence import TracInCP
    except ImportError:
        print("| Captum TracInCP | not installed | | |")
        return
    from torch.utils.data import TensorDataset

    def load(model, path):
        model.load_state_dict(torch.load(path, weights_only=True))
        return lr

    module = net.module_
    t0 = time.perf_counter()
    tracin = TracInCP(
        module,
        TensorDataset(torch.as_tensor(X), torch.as_tensor(y)),
        checkpoints=paths,
        checkpoints_load_func=load,
        loss_fn=nn.CrossEntropyLoss(reduction="none"),
        batch_size=len(y),
        sample_wise_grads_per_batch=False,
    )
    theirs = tracin.influence((torch.as_tensor(Xte), torch.as_tensor(yte))).detach().numpy()
    t_theirs = time.perf_counter() - t0
    rel = np.abs(theirs - ours).max() / np.abs(ours).max()
    print(
        f"| Captum TracInCP | {t_theirs:.2f} | {pearsonr(theirs.ravel(), ours.ravel())[0]:.6f} "
        f"| {rel:.2g} |"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=50)
    parser.add_argument("--n-loo", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="no leave-one-out")
    parser.add_argument("--loo-only", action="store_true", help="only the leave-one-out table")
    parser.add_argument(
        "--peers-only",
        action="store_true",
        help="direct, cg, arnoldi rank 200, lissa batch 100 and the peers (no LOO)",
    )
    parser.add_argument("--datasets", default="digits,synthetic")
    parser.add_argument("--tracin-only", action="store_true", help="only TracIn vs Captum")
    parser.add_argument(
        "--lissa-sweep",
        action="store_true",
        help="only LiSSA, ours and pyDVL's, over depth and batch size (agreement against time)",
    )
    args = parser.parse_args()
    for name, X, y, hidden in datasets(args.n_train, args.n_test):
        if name not in args.datasets.split(","):
            continue
        Xtr, ytr = X[: args.n_train], y[: args.n_train]
        Xte, yte = (
            X[args.n_train : args.n_train + args.n_test],
            y[args.n_train : args.n_train + args.n_test],
        )
        if args.tracin_only:
            tracin_vs_captum(Xtr, ytr, Xte, yte, hidden)
            continue
        wd = 1e-3
        torch.manual_seed(0)
        net = make_net(X.shape[1], len(np.unique(y)), hidden, wd, epochs=200).fit(Xtr, ytr)
        adapter = adapter_for(net)
        G = adapter.gradients(Xtr, ytr)
        grad_J = G.rmatmul(np.ones((len(ytr), 1)))[:, 0] + len(ytr) * wd * adapter.params()
        H = adapter.hessian(Xtr, ytr)
        evals = np.linalg.eigvalsh(H)
        print(
            f"\n## {name}: n={len(ytr)}, p={adapter.n_params}, test rows={len(yte)}, "
            f"‖∇J‖={np.linalg.norm(grad_J):.2g}, eig(H) in [{evals[0]:.3g}, {evals[-1]:.3g}]"
        )
        # Koh & Liang's damping 0.01 on the mean-loss Hessian is 0.01·n in our sum form.
        damping = 0.01 * len(ytr)
        print(
            f"damping = 0.01·n = {damping:g} (condition number of H + λI: "
            f"{(evals[-1] + damping) / (evals[0] + damping):.0f})"
        )
        # the same LiSSA scale for every implementation: 2 λmax(H + λI) (pyDVL's: that / n)
        scale = 2 * (evals[-1] + damping)
        methods = {
            "direct": ours("direct", damping),
            "direct, damping 0.001·n": ours("direct", damping / 10),
            "cg (rtol 1e-6)": ours("cg", damping),
            "cg, scipy per column": ours("cg", damping, block=False),
            "arnoldi rank 50": ours("arnoldi", damping, rank=50),
            "arnoldi rank 200": ours("arnoldi", damping, rank=200),
            "lissa depth 1000, full batch": ours("lissa", damping, depth=1000, scale=scale),
            "lissa depth 1000, batch 100": ours(
                "lissa", damping, depth=1000, batch_size=100, scale=scale, random_state=0
            ),
            "identity (gradient similarity)": ours("identity", damping),
        }
        if args.lissa_sweep:
            reference, *_ = measured(partial(methods["direct"], adapter, Xtr, ytr, Xte, yte))
            lissa_sweep(net, adapter, Xtr, ytr, Xte, yte, wd, damping, scale, reference)
            continue
        if args.peers_only:
            keep = (
                "direct",
                "cg (rtol 1e-6)",
                "arnoldi rank 200",
                "lissa depth 1000, full batch",
                "lissa depth 1000, batch 100",
            )
            methods = {k: v for k, v in methods.items() if k in keep}
        methods.update(pydvl_methods(net, len(ytr), wd, damping, scale))
        methods.update(captum_methods(net, len(ytr), wd, damping))
        results = {}
        print(f"load average at start: {os.getloadavg()}")
        print(
            "| method | time (s) | peak RSS (MB) | Pearson vs direct | Spearman vs direct "
            "| slope vs direct |"
        )
        print("|---|---|---|---|---|---|")
        for label, fn in methods.items():
            if args.loo_only:
                break
            infl, sec, mb, warn = measured(partial(fn, adapter, Xtr, ytr, Xte, yte))
            results[label] = infl
            ref = results["direct"].ravel()
            slope = float(infl.ravel() @ ref / (ref @ ref))  # 1: same sign and units
            print(
                f"| {label} | {sec:.2f} | {mb:.0f} | {pearsonr(infl.ravel(), ref)[0]:.4f} | "
                f"{spearmanr(infl.ravel(), ref)[0]:.4f} | {slope:.3f} |"
                + (f" {warn}" if warn else "")
            )
        if not args.loo_only:
            print(f"load average at end: {os.getloadavg()}")
        if args.quick or args.peers_only:
            continue
        k = args.n_loo
        net_k = make_net(X.shape[1], len(np.unique(y)), hidden, wd, epochs=200)
        net_k.set_params(warm_start=True)
        t0 = time.perf_counter()
        loo = LeaveOneOutScorer(net_k).fit(Xtr[:k], ytr[:k])
        truth = loo.influence(Xte, yte)
        a_k = adapter_for(loo.estimator_)
        ev = np.linalg.eigvalsh(a_k.hessian(Xtr[:k], ytr[:k]))
        print(
            f"\nvs leave-one-out on the first {k} rows ({k} refits warm-started at the optimum, "
            f"{time.perf_counter() - t0:.0f} s; eig(H) in [{ev[0]:.3g}, {ev[-1]:.3g}]):"
        )
        print("| method | Pearson vs LOO | Pearson vs LOO, centred per test row |")
        print("|---|---|---|")
        centred_truth = truth - truth.mean(axis=1, keepdims=True)
        lam = 0.01 * k
        loo_methods = {
            "direct, damping 0.01·n": ours("direct", lam),
            "direct, damping 0.001·n": ours("direct", lam / 10),
            "cg, damping 0.01·n": ours("cg", lam),
            "arnoldi rank 50, damping 0.01·n": ours("arnoldi", lam, rank=50),
            "arnoldi rank 200, damping 0.01·n": ours("arnoldi", lam, rank=200),
            "lissa depth 1000, damping 0.01·n": ours("lissa", lam, depth=1000),
            "identity": ours("identity", 0.0),
        }
        for label, fn in loo_methods.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = fn(a_k, Xtr[:k], ytr[:k], Xte, yte)
            centred = est - est.mean(axis=1, keepdims=True)
            print(
                f"| {label} | {pearsonr(est.ravel(), truth.ravel())[0]:.3f} | "
                f"{pearsonr(centred.ravel(), centred_truth.ravel())[0]:.3f} |"
            )


if __name__ == "__main__":
    main()
