"""EK-FAC against Kronfluence 1.0's EK-FAC (issue 18 §2): agreement with the dense
Gauss–Newton solve and time, on the issue's net, one run.

The net and data are ``bench_gauss_newton.py``'s: 7-class synthetic tabular data (500
training rows, 18 features), a skorch MLP 18-32-7 with tanh, Adam (weight decay 1e-3, 400
epochs; 839 parameters). Reference: ``∇ℓ_iᵀ (G + λI)⁻¹ ∇ℓ_q`` for every training row i and
30 test rows q, G the dense Gauss–Newton matrix of the training objective (Σ_i ℓ_i + n wd/2
‖θ‖², so G includes n·wd·I), solved exactly (``method="direct"``), λ its ``damping="auto"``.
Each EK-FAC's scores are correlated (Pearson, all 500 × 30 pairs) with it.

Like with like: Kronfluence's curvature is the *mean* Fisher of the loss alone, and its
damping is added to the corrected eigenvalues as ours is; so it is run with
``damping_factor = wd + λ/n`` (the penalty, uniform, is exactly that shift in any basis):
the same matrix, divided by n. Its true Fisher (``use_empirical_fisher=False``, the
default) draws one label per row from the model: in expectation the Gauss–Newton matrix of
the cross-entropy, which ours computes exactly (a square root of each row's output
Hessian). Its empirical Fisher (true labels) is another curvature, shown for reference.
Kronfluence runs in its own environment (``/work/venvs/kronfluence``, or
``KRONFLUENCE_PYTHON``) through ``_kronfluence_run.py``; its time (factors, written to disk
as it does, and pairwise scores) is the runner's own clock, ours the same work in this
process (adapter, gradients, factors, solve, scores), both on one thread.

    python benchmarks/bench_kronfluence.py [--epochs 400] [--n-query 30]
    python benchmarks/bench_kronfluence.py --conv   # K-FAC / EK-FAC on a Conv2d net
"""

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_gauss_newton import make_data, pearson, train

from skinfluence.inverse import DirectSolver, EKFACSolver, KFACSolver
from skinfluence.models import adapter_for, with_curvature

PEER_PYTHON = os.environ.get("KRONFLUENCE_PYTHON", "/work/venvs/kronfluence/bin/python")
RUNNER = Path(__file__).with_name("_kronfluence_run.py")
PYDVL_PYTHON = os.environ.get("PYDVL_PYTHON", "/work/venvs/pydvl/bin/python")
PYDVL_RUNNER = Path(__file__).with_name("_pydvl_ekfac_run.py")
WD = 1e-3


def ours(net, X, y, Xq, yq, solver_cls, damping, repeats=2):
    """Scores (n, q), the best seconds of ``repeats`` runs (the whole computation, from the
    fitted net) and the solver."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        adapter = adapter_for(net)
        V = adapter.gradients(Xq, yq).dense_rows(slice(None)).T
        solver = solver_cls(damping=damping).fit(with_curvature(adapter, "gauss-newton"), X, y)
        scores = adapter.gradients(X, y).matmul(solver.solve(V))
        best = min(best, time.perf_counter() - start)
    return scores, best, solver


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def sampled_noise(net, X, solver, draws=20, seed=0):
    """Relative difference to our S of the logits layer's S from one label per row drawn
    from the model (what Kronfluence's true Fisher does): mean and sd over ``draws``. The
    layer's pseudo-gradients are ``p − e_ŷ``, so no autograd is needed."""
    with torch.no_grad():
        module = copy.deepcopy(net.module_).double()
        logits = module(torch.as_tensor(X, dtype=torch.float64))
    p = torch.softmax(logits, -1).numpy()
    exact = solver.layers_[-1].S.cpu().numpy() / len(X)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(draws):
        labels = (p.cumsum(1) > rng.uniform(size=(len(p), 1))).argmax(1)
        g = p - np.eye(p.shape[1])[labels]
        diffs.append(_relative(g.T @ g / len(X), exact))
    return np.mean(diffs), np.std(diffs)


def compare_factors(solver, peer, n, variant="true-f64"):
    """Kronfluence's stored factors against ours (its are means, ours S and Λ sums)."""
    print(f"\n## Kronfluence's factors ({variant}) against ours")
    print("| layer | A: rel. diff | S: rel. diff | Σ corrected eigenvalues: Kronfluence / ours |")
    print("|---|---|---|---|")
    for layer in solver.layers_:

        def get(name, layer=layer):
            return peer[f"factor_{variant}:{name}:{layer.name}"]

        Q, e = get("activation_eigenvectors"), get("activation_eigenvalues")
        A = (Q * e) @ Q.T  # it keeps the eigendecompositions of its (mean) factors
        Q, e = get("gradient_eigenvectors"), get("gradient_eigenvalues")
        S = (Q * e) @ Q.T
        lam = get("lambda_matrix") / get("num_lambda_processed")
        ours_A, ours_S = layer.A.cpu().numpy(), layer.S.cpu().numpy() / n
        ours_lam = layer.eigenvalues.cpu().numpy() / n
        print(f"| {layer.name} | {_relative(A, ours_A):.2e} | {_relative(S, ours_S):.3f} | "
              f"{lam.sum() / ours_lam.sum():.3f} |")  # fmt: skip


def kronfluence(net, X, y, Xq, yq, damping, seed=0, python=PEER_PYTHON, runner=RUNNER):
    if not Path(python).exists():
        print(f"({python} not found: {runner.name} skipped)")
        return None
    state = {k: v.detach().cpu().numpy() for k, v in net.module_.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(src, X=X, y=y, Xq=Xq, yq=yq, damping=damping, seed=seed, **state)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        extra = [tmp] if runner == RUNNER else []
        subprocess.run([python, str(runner), str(src), str(dst), *extra], check=True, env=env)
        return dict(np.load(dst))


class CNN(torch.nn.Module):
    """Conv2d(1→8, 3×3, padding 1) → tanh → 2×2 average pool → Linear(128→10): 1 370 params."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Linear(128, 10)

    def forward(self, x):
        h = torch.nn.functional.avg_pool2d(torch.tanh(self.conv(x)), 2)
        return self.fc(h.flatten(1))


def conv_table(n=500, n_query=30, epochs=200):
    """K-FAC / EK-FAC with a Conv2d layer (KFC factors) against the dense GGN solve, on
    digits (8 × 8 images): Adam, weight decay 1e-3, full batch."""
    from sklearn.datasets import load_digits

    from skinfluence.models import TorchModule

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    Xq, yq, X, y = X[n : n + n_query], y[n : n + n_query], X[:n], y[:n]
    torch.manual_seed(0)
    module = CNN()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01, weight_decay=WD)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(epochs):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(Xt), yt).backward()
        optimizer.step()
    net = TorchModule(module, torch.nn.CrossEntropyLoss(), classes=np.arange(10),
                      weight_decay=WD)  # fmt: skip
    adapter = adapter_for(net)
    G = with_curvature(adapter, "gauss-newton")
    V = adapter.gradients(Xq, yq).dense_rows(slice(None)).T
    train = adapter.gradients(X, y)
    print(f"\n## A Conv2d net: digits 8×8, {n} rows × {n_query} queries, p = {adapter.n_params}"
          f" (Conv2d 80, Linear 1 290), Adam {epochs} epochs")  # fmt: skip
    print("| method | damping | Pearson vs dense GGN solve | time (s) |")
    print("|---|---|---|---|")
    ref, lam = None, "auto"
    for name, cls in (("direct", DirectSolver), ("kfac", KFACSolver), ("ekfac", EKFACSolver)):
        start = time.perf_counter()
        solver = cls(damping=lam).fit(G, X, y)
        scores = train.matmul(solver.solve(V))
        seconds = time.perf_counter() - start
        if ref is None:
            ref, lam = scores, solver.damping_
        print(f"| {name} | {lam:.3g} | {pearson(scores, ref):.4f} | {seconds:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--n-query", type=int, default=30)
    parser.add_argument("--conv", action="store_true", help="only the Conv2d table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.conv:
        return conv_table()
    X, y, Xte, yte = make_data()
    Xq, yq = Xte[: args.n_query], yte[: args.n_query]
    net = train(X, y, args.epochs)
    adapter = adapter_for(net)
    G = with_curvature(adapter, "gauss-newton")
    start = time.perf_counter()
    direct = DirectSolver(damping="auto").fit(G, X, y)
    V = adapter.gradients(Xq, yq).dense_rows(slice(None)).T
    ref = adapter.gradients(X, y).matmul(direct.solve(V))
    dense_seconds = time.perf_counter() - start
    lam, n = direct.damping_, len(y)
    print(f"net: {args.epochs} epochs, p = {adapter.n_params}; λ = {lam:.4g} (sum units), "
          f"Kronfluence damping_factor = wd + λ/n = {WD + lam / n:.4g}")  # fmt: skip
    rows = [("skinfluence", "dense Gauss–Newton (direct), the reference", 1.0, dense_seconds)]
    solvers = {}
    for name, cls in (("EK-FAC", EKFACSolver), ("K-FAC", KFACSolver)):
        scores, seconds, solvers[name] = ours(net, X, y, Xq, yq, cls, lam)
        rows.append(("skinfluence", f"{name}, true Gauss–Newton, float64", pearson(scores, ref),
                     seconds))  # fmt: skip
    ours_seconds = rows[1][3]
    sampled = lambda **kw: EKFACSolver(fisher="sampled", random_state=0, **kw)  # noqa: E731
    scores, seconds, _ = ours(net, X, y, Xq, yq, sampled, lam)
    rows.append(("skinfluence", "EK-FAC, fisher='sampled' (one label per row drawn), float64",
                 pearson(scores, ref), seconds))  # fmt: skip
    peer = kronfluence(net, X, y, Xq, yq, WD + lam / n)
    labels = {
        "true-f32": "EK-FAC, true Fisher (sampled labels), float32 — its defaults",
        "true-f64": "EK-FAC, true Fisher (sampled labels), float64",
        "empirical-f64": "EK-FAC, empirical Fisher (true labels), float64",
    }
    if peer is not None:
        for key, label in labels.items():
            r = pearson(peer[f"scores_{key}"].T, ref)
            rows.append((f"Kronfluence {peer['version']}", label, r, float(peer[f"seconds_{key}"])))
    dvl = kronfluence(net, X, y, Xq, yq, WD + lam / n, python=PYDVL_PYTHON, runner=PYDVL_RUNNER)
    if dvl is not None:
        rows.append((f"pyDVL {dvl['version']}", "EkfacInfluence (one pseudo-gradient of "
                     "Σ √p log p per row), float32", pearson(dvl["scores"].T, ref),
                     float(dvl["seconds"])))  # fmt: skip
    if peer is not None:
        _scores, again, _ = ours(net, X, y, Xq, yq, EKFACSolver, lam)  # after the peer's run
        print(f"(our EK-FAC again after Kronfluence's run: {again:.2f} s)")
        for variant in ("true-f64", "empirical-f64"):
            compare_factors(solvers["EK-FAC"], peer, n, variant)
        mean, sd = sampled_noise(net, X, solvers["EK-FAC"])
        print(f"S of the logits layer from one sampled label per row (20 draws of our own): "
              f"relative difference to ours {mean:.3f} ± {sd:.3f}")  # fmt: skip
    print(f"\n## EK-FAC vs Kronfluence ({n} training rows × {len(yq)} queries, one run)")
    print("| library | curvature | Pearson vs dense GGN solve | time (s) | time / our EK-FAC |")
    print("|---|---|---|---|---|")
    for lib, label, r, seconds in rows:
        print(f"| {lib} | {label} | {r:.4f} | {seconds:.2f} | {seconds / ours_seconds:.1f}× |")


if __name__ == "__main__":
    main()
