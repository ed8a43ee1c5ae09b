"""Finding flipped labels: every skinfluence score, the audit's default, and cleanlab.

For each data set and seed, 10% of the labels are flipped (``skinfluence.datasets.flip_labels``)
and each score ranks the rows (higher = more suspect). We report AUROC and AUPRC of recovering
the flipped rows (mean ± std over 3 seeds; a random ranking has AUPRC 0.10) and seconds per
score, for two models: a standardised logistic regression and histogram gradient boosting
(``--models mlp`` adds the audit's skorch MLP; it needs the torch extra). The scores are the
ones ``skinfluence audit`` computes (``skinfluence._audit._scores``), so the "audit default"
row is exactly what the command line gives; "audit default, end to end" times it in a fresh
context (every fit it needs, nothing shared with the other rows). The other combinations
show how the default's family rule compares with plain kappa weights and equal weights.

cleanlab (``get_label_quality_scores`` and ``find_label_issues`` on out-of-fold
``predict_proba`` of the same model, the same folds) runs when it is importable. It lives in its
own virtual environment:

    python3 -m venv benchmarks/.venv-cleanlab
    benchmarks/.venv-cleanlab/bin/pip install -c constraints.txt cleanlab -e .
    benchmarks/.venv-cleanlab/bin/python benchmarks/bench_mislabel.py

Options: ``--quick`` (one seed, two data sets), ``--datasets a,b``, ``--models a,b`` and
``--json FILE`` (raw results).
"""

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_wine,
    make_classification,
    make_gaussian_quantiles,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from skinfluence._audit._combine import combine, family_fit, family_weights
from skinfluence._audit._scores import DEFAULT_SCORES, SCORES, AuditContext, make_model
from skinfluence.datasets import flip_labels
from skinfluence.metrics import detection_scores

try:
    import cleanlab
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
except ImportError:  # benchmarks run without cleanlab too; its rows are then left out
    cleanlab = None

NOISE_RATE = 0.1
SEEDS = (0, 1, 2)
MODELS = ("logistic", "hgb")
CANDIDATES = ("self-influence", "loss", "oof", "el2n", "grand", "oga", "forest", "memorization")
# Scores that do not depend on --model (computed once per data set and seed), with the cache
# entries of the audit's context that they fill (the combination reads them).
MODEL_FREE = {
    "forest": ("forest", "forest_proba"),
    "memorization": ("MemorizationScorer",),
}
# Other combinations compared with the audit's default (how the default was chosen):
# label -> (scores, family rule). "select": the audit's rule (families that fit as well as
# the best one, kappa-weighted); "kappa": every family kappa-weighted; "equal": plain mean.
VARIANTS = {
    "previous default (self-influence + oof + memorization, kappa)": (
        ("self-influence", "oof", "memorization"),
        "kappa",
    ),
    "default scores, every family kappa-weighted": (DEFAULT_SCORES, "kappa"),
    "default scores, families unweighted": (DEFAULT_SCORES, "equal"),
    "self-influence + loss + oof + forest": (("self-influence", "loss", "oof", "forest"), "select"),
}


def _datasets():
    return {
        "breast-cancer": lambda: load_breast_cancer(return_X_y=True),
        "wine": lambda: load_wine(return_X_y=True),
        "digits": lambda: load_digits(return_X_y=True),
        "synthetic-linear": lambda: make_classification(
            1000, 20, n_informative=10, n_classes=3, class_sep=1.5, random_state=0
        ),
        # Classes are shells around the origin: no linear model can separate them.
        "synthetic-nonlinear": lambda: make_gaussian_quantiles(
            n_samples=1000, n_features=4, n_classes=3, random_state=0
        ),
    }


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _cleanlab_scores(ctx):
    """cleanlab on the model's out-of-fold probabilities (same folds as the 'oof' score)."""
    cv = StratifiedKFold(ctx.n_folds, shuffle=True, random_state=ctx.random_state)
    codes = np.searchsorted(np.unique(ctx.y), ctx.y)
    proba, t_proba = _timed(
        lambda: cross_val_predict(ctx.model, ctx.Z, ctx.y, cv=cv, method="predict_proba")
    )
    quality, t_rank = _timed(lambda: get_label_quality_scores(codes, proba))
    ranked, t_find = _timed(
        lambda: find_label_issues(codes, proba, return_indices_ranked_by="self_confidence")
    )
    flagged = np.zeros(len(codes))
    flagged[ranked] = 1.0 + np.linspace(1, 0, len(ranked))  # flagged first, in cleanlab's order
    return {
        "cleanlab label quality": (1.0 - quality, t_proba + t_rank),
        "cleanlab find_label_issues": (flagged, t_proba + t_find),
    }


def _weights(ctx, names, rule):
    if rule == "select":
        return family_weights(ctx, names)
    families = {SCORES[s].family for s in names}
    if rule == "equal" or len(families) < 2:
        return dict.fromkeys(families, 1.0)
    return {f: max(0.0, family_fit(ctx, sorted(families))[f][0]) for f in families}


def _audit_seconds(model_name, Z, y, seed):
    """Wall time of the audit's default scores and combination in a fresh context."""
    start = time.perf_counter()
    ctx = AuditContext(model_name, make_model(model_name, seed), Z, y, n_jobs=1, random_state=seed)
    names = [s for s in DEFAULT_SCORES if SCORES[s].unavailable(ctx) is None]
    combine({s: SCORES[s].compute(ctx) for s in names}, family_weights(ctx, names))
    return time.perf_counter() - start


def run_one(name, X, seed, results, models=MODELS):
    y, is_flipped = flip_labels(np.asarray(X[1]), NOISE_RATE, random_state=seed)
    Z = np.asarray(X[0], dtype=np.float64)
    shared = {}
    for model_name in models:
        ctx = AuditContext(
            model_name, make_model(model_name, seed), Z, y, n_jobs=1, random_state=seed
        )
        scores = {}
        for score in CANDIDATES:
            if SCORES[score].unavailable(ctx) is not None:
                continue
            if score in shared:
                scores[score], cached = shared[score]
                ctx.cache.update(cached)
                continue
            scores[score] = _timed(lambda s=score, c=ctx: SCORES[s].compute(c))
            if score in MODEL_FREE:
                shared[score] = scores[score], {k: ctx.cache[k] for k in MODEL_FREE[score]}
        combos = {"audit default": (DEFAULT_SCORES, "select"), **VARIANTS}
        for label, (names, rule) in combos.items():
            names = [s for s in names if s in scores]
            values = combine({s: scores[s][0] for s in names}, _weights(ctx, names, rule))
            scores[label] = (values, sum(scores[s][1] for s in names))
        scores["audit default, end to end"] = (
            scores["audit default"][0],
            _audit_seconds(model_name, Z, y, seed),
        )
        if cleanlab is not None:
            scores.update(_cleanlab_scores(ctx))
        for score, (values, seconds) in scores.items():
            r = detection_scores(is_flipped, np.nan_to_num(np.asarray(values, dtype=float)))
            key = (name, model_name, score)
            results.setdefault(key, []).append((r.auroc, r.auprc, seconds))


def _cell(values, digits=3):
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def print_tables(results, n_seeds, models=MODELS):
    datasets = list(dict.fromkeys(k[0] for k in results))
    for name in datasets:
        print(f"\n### {name} (10% flipped, {n_seeds} seeds; random AUPRC = 0.10)\n")
        header = "| score |"
        for model in models:
            header += f" {model} AUROC | {model} AUPRC | {model} s |"
        print(header)
        print("|---" * (1 + 3 * len(models)) + "|")
        scores = list(dict.fromkeys(k[2] for k in results if k[0] == name))
        for score in scores:
            line = f"| {score} |"
            for model in models:
                got = results.get((name, model, score))
                if got is None:
                    line += " – | – | – |"
                    continue
                auroc, auprc, secs = map(list, zip(*got, strict=True))
                line += f" {_cell(auroc)} | {_cell(auprc)} | {np.mean(secs):.2f} |"
            print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, two data sets")
    parser.add_argument("--datasets", help="comma-separated subset of the data sets")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated audit models (default {','.join(MODELS)}; 'mlp' needs the "
        "torch extra, absent from cleanlab's environment)",
    )
    args = parser.parse_args(argv)
    datasets = _datasets()
    names = list(datasets)
    if args.datasets:
        names = args.datasets.split(",")
    elif args.quick:
        names = ["breast-cancer", "synthetic-nonlinear"]
    seeds = SEEDS[:1] if args.quick else SEEDS
    models = args.models.split(",")
    print(
        f"cleanlab {cleanlab.__version__ if cleanlab else 'not installed: its rows are left out'}"
        f"; seeds {list(seeds)}; one thread per process"
    )
    results = {}
    torch_threads = contextlib.nullcontext
    if "mlp" in models:
        from skinfluence.torch._mlp import torch_threads
    # One thread, native pools and torch's: comparable timings on a shared machine.
    with threadpool_limits(1), torch_threads(1):
        for name in names:
            data = datasets[name]()
            for seed in seeds:
                run_one(name, data, seed, results, models)
    print_tables(results, len(seeds), models)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"|".join(k): v for k, v in results.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
