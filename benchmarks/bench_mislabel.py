"""Finding flipped labels: every skinfluence score, the audit's default, and cleanlab.

For each data set and seed, 10% of the labels are flipped (``skinfluence.datasets.flip_labels``)
and each score ranks the rows (higher = more suspect). We report AUROC and AUPRC of recovering
the flipped rows (mean ± std over 3 seeds; a random ranking has AUPRC 0.10) and seconds per
score, for two models: a standardised logistic regression and histogram gradient boosting
(``--models mlp`` adds the audit's skorch MLP; it needs the torch extra). Every score is
computed by the public ``skinfluence.audit`` with that score alone (its seconds include the
audit's cheap data checks and count), so the "audit default" row is exactly what the
command line gives, timed end to end in a fresh call (every fit it needs, nothing shared
with the other rows). The other combinations (``skinfluence.scorers.rank_average`` with
``family_fit`` / ``family_weights``) show how the default's family rule compares with plain
kappa weights and equal weights. The default's estimated number of label issues and the
precision of its flagged rows are printed below each table.

cleanlab (``get_label_quality_scores`` and ``find_label_issues`` on out-of-fold
``predict_proba`` of the same model, the same folds) runs when it is importable. It lives in its
own virtual environment:

    python3 -m venv benchmarks/.venv-cleanlab
    benchmarks/.venv-cleanlab/bin/pip install -c constraints.txt cleanlab -e .
    benchmarks/.venv-cleanlab/bin/python benchmarks/bench_mislabel.py

Options: ``--quick`` (one seed, two data sets), ``--datasets a,b``, ``--models a,b``,
``--scores a,b`` (those scores alone, with cleanlab when ``oof`` is among them: no
combinations, no end-to-end default; e.g. ``--models hgb,lightgbm --scores
self-influence,oof`` puts the boosted trees' own self-influence, LeafInfluence with the
splits held fixed, beside cleanlab on the same model's out-of-fold probabilities) and
``--json FILE`` (raw results).
"""

import argparse
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
from threadpoolctl import threadpool_limits

from skinfluence import audit
from skinfluence.datasets import flip_labels
from skinfluence.metrics import detection_scores
from skinfluence.scorers import family_fit, family_weights, rank_average

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
DEFAULT_SCORES = ("self-influence", "oof", "forest")
# Scores that do not depend on the model (computed once per data set and seed), and the
# family of each score (as ``skinfluence audit --help`` lists them).
MODEL_FREE = ("forest", "memorization")
FAMILY = {name: "forest" if name in MODEL_FREE else "model" for name in CANDIDATES}
# The scores whose out-of-sample probabilities judge their family.
JUDGES = {"model": "oof", "forest": "forest"}
# Other combinations compared with the audit's default (how the default was chosen):
# label -> (scores, family rule). "family": the audit's rule (families that fit as well as
# the best one, kappa-weighted); "kappa": every family kappa-weighted; "equal": plain mean.
VARIANTS = {
    "previous default (self-influence + oof + memorization, kappa)": (
        ("self-influence", "oof", "memorization"),
        "kappa",
    ),
    "default scores, every family kappa-weighted": (DEFAULT_SCORES, "kappa"),
    "default scores, families unweighted": (DEFAULT_SCORES, "equal"),
    "self-influence + loss + oof + forest": (("self-influence", "loss", "oof", "forest"), "family"),
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


def _cleanlab_scores(proba, y):
    """cleanlab on the model's out-of-fold probabilities (the folds of the 'oof' score)."""
    codes = np.searchsorted(np.unique(y), y)
    quality, t_rank = _timed(lambda: get_label_quality_scores(codes, proba))
    ranked, t_find = _timed(
        lambda: find_label_issues(codes, proba, return_indices_ranked_by="self_confidence")
    )
    flagged = np.zeros(len(codes))
    flagged[ranked] = 1.0 + np.linspace(1, 0, len(ranked))  # flagged first, in cleanlab's order
    return {
        "cleanlab label quality": (1.0 - quality, t_rank),
        "cleanlab find_label_issues": (flagged, t_find),
    }, len(ranked)


def _one_score(X, y, model_name, score, seed):
    """``skinfluence.audit`` with one score: (scores, out-of-sample proba or None, seconds);
    None when the model cannot give that score."""
    try:
        result, seconds = _timed(
            lambda: audit(X, y, model=model_name, scorers=[score], n_jobs=1, random_state=seed)
        )
    except ValueError as exc:  # the audit's usage error: this model cannot give the score
        if "cannot run" in str(exc):
            return None
        raise
    member = result.combined_scorer.named_scorers_[score]
    return result.scores[score], getattr(member, "out_of_sample_proba_", None), seconds


def _combine(scores, names, probas, y, rule):
    families = {FAMILY[s] for s in names}
    fit = family_fit(y, {f: probas[JUDGES[f]] for f in families}, np.unique(y))
    weights = family_weights(fit, rule)
    return rank_average({s: scores[s][0] for s in names}, FAMILY, weights)


def run_one(name, data, seed, results, models=MODELS, counts=None, only=None):
    y, is_flipped = flip_labels(np.asarray(data[1]), NOISE_RATE, random_state=seed)
    X = np.asarray(data[0], dtype=np.float64)
    shared = {}
    for model_name in models:
        scores, probas = {}, {}
        for score in only or CANDIDATES:
            got = shared.get(score) or _one_score(X, y, model_name, score, seed)
            if got is None:
                continue
            if score in MODEL_FREE:
                shared[score] = got
            scores[score] = got[0], got[2]
            if got[1] is not None:
                probas[score] = got[1]
        if only:
            if cleanlab is not None and "oof" in probas:
                scores.update(_cleanlab_scores(probas["oof"], y)[0])
            _record(results, (name, model_name), scores, is_flipped)
            continue
        combos = {"audit default": (DEFAULT_SCORES, "family"), **VARIANTS}
        for label, (names, rule) in combos.items():
            names = [s for s in names if s in scores]
            scores[label] = (
                _combine(scores, names, probas, y, rule),
                sum(scores[s][1] for s in names),
            )
        result, seconds = _timed(
            lambda m=model_name: audit(
                X, y, model=m, n_jobs=1, random_state=seed, known_issues=is_flipped
            )
        )
        np.testing.assert_allclose(result.combined, scores["audit default"][0])
        scores["audit default, end to end"] = (result.combined, seconds)
        if counts is not None:
            counts.setdefault((name, model_name), []).append(
                (
                    int(is_flipped.sum()),
                    result.n_issues,
                    *result.n_issues_interval,
                    result.detection["flag_precision"],
                )
            )
        if cleanlab is not None:
            cl_scores, n_found = _cleanlab_scores(probas["oof"], y)
            scores.update(cl_scores)
            if counts is not None:
                counts[(name, model_name)][-1] += (n_found,)
        _record(results, (name, model_name), scores, is_flipped)


def _record(results, key, scores, is_flipped):
    for score, (values, secs) in scores.items():
        r = detection_scores(is_flipped, np.nan_to_num(np.asarray(values, dtype=float)))
        results.setdefault((*key, score), []).append((r.auroc, r.auprc, secs))


def _cell(values, digits=3):
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def print_counts(counts, name, models):
    """The default's estimated count of label issues beside the truth, and its flags."""
    for model in models:
        rows = counts.get((name, model))
        if not rows:
            continue
        cells = "; ".join(
            f"true {r[0]}, estimated {r[1]} ({r[2]}-{r[3]}), flagged precision {r[4]:.2f}"
            + (f", cleanlab find_label_issues {r[5]}" if len(r) > 5 else "")
            for r in rows
        )
        print(f"\n{model}: label issues per seed: {cells}")


def print_tables(results, n_seeds, models=MODELS, counts=None):
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
        if counts:
            print_counts(counts, name, models)


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
    parser.add_argument(
        "--scores",
        help=f"comma-separated subset of {','.join(CANDIDATES)}: those alone (and cleanlab "
        "with oof), no combinations",
    )
    args = parser.parse_args(argv)
    only = args.scores.split(",") if args.scores else None
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
    results, counts = {}, {}
    # One thread, native pools (and torch's: the audit sets it from n_jobs=1): comparable
    # timings on a shared machine.
    with threadpool_limits(1):
        for name in names:
            data = datasets[name]()
            for seed in seeds:
                run_one(name, data, seed, results, models, counts, only)
    print_tables(results, len(seeds), models, counts)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"|".join(k): v for k, v in results.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
