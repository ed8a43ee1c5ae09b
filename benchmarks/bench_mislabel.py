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
``--json FILE`` (raw results), ``--seeds N`` (the first N seeds).
The candidates include the three data-valuation scores of issue 20, computed directly (not
audit scores): ``data-oob`` (``DataOOBScorer`` on a 200-tree random forest),
``knn-shapley`` (``KNNShapleyScorer(n_neighbors=10)`` on standardised features) and
``banzhaf`` (``BanzhafScorer`` on the audit's model, 50 subset models); e.g. ``--quick
--seeds 2 --scores self-influence,oof,forest,data-oob,knn-shapley,banzhaf``.
``--peers`` runs only the audit's default beside cleanlab
(same model, end to end, with time ratios) and Data-OOB on a 500-tree random forest, on
uniform, pair (class k -> k + 1) and instance-dependent flips (``--noise``);
``--regression`` audits targets shifted by 3-6 or 1-2 standard deviations beside
``cleanlab.regression`` (``CleanLearning`` and its out-of-fold quality scores).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
    make_friedman1,
    make_gaussian_quantiles,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skinfluence import BanzhafScorer, DataOOBScorer, KNNShapleyScorer, audit
from skinfluence.datasets import flip_labels
from skinfluence.metrics import detection_scores
from skinfluence.scorers import family_fit, family_weights, rank_average

try:
    import cleanlab
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
except ImportError:  # benchmarks run without cleanlab too; its rows are then left out
    cleanlab = None
try:
    from cleanlab.regression.learn import CleanLearning as RegressionCleanLearning
    from cleanlab.regression.rank import get_label_quality_scores as regression_quality
except ImportError:
    RegressionCleanLearning = None

NOISE_RATE = 0.1
SEEDS = (0, 1, 2)
MODELS = ("logistic", "hgb")
# --peers: the audit's default model ("auto": boosting's out-of-fold loss beside a linear
# family and the forest; cleanlab on the same boosting model) and the single models.
PEER_MODELS = ("auto", "logistic")
# The data-valuation scores of issue 20 (not audit scores: computed directly, see _valuation).
VALUATION = ("data-oob", "knn-shapley", "banzhaf")
CANDIDATES = (
    "self-influence",
    "loss",
    "oof",
    "el2n",
    "grand",
    "oga",
    "forest",
    "memorization",
    *VALUATION,
)
DEFAULT_SCORES = ("self-influence", "oof", "forest")
# Scores that do not depend on the model (computed once per data set and seed), and the
# family of each score (as ``skinfluence audit --help`` lists them).
MODEL_FREE = ("forest", "memorization", "data-oob", "knn-shapley")
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


def _valuation(X, y, model_name, score, seed):
    """A data-valuation scorer's ``scores_`` (higher = more suspect): (scores, None, seconds).

    data-oob: ``DataOOBScorer`` on a 200-tree random forest (model-free, as in ``--peers``);
    knn-shapley: ``KNNShapleyScorer(n_neighbors=10)`` on standardised features (model-free);
    banzhaf: ``BanzhafScorer`` on the audit's model with 50 subset models (kept cheap: each
    value's standard error shrinks as 1/sqrt(K)).
    """
    from skinfluence._audit._scores import make_model

    def fit():
        if score == "data-oob":
            forest = RandomForestClassifier(200, n_jobs=1, random_state=seed)
            return DataOOBScorer(forest).fit(X, y).scores_
        if score == "knn-shapley":
            return (
                KNNShapleyScorer(n_neighbors=10).fit(StandardScaler().fit_transform(X), y).scores_
            )
        banzhaf = BanzhafScorer(make_model(model_name, seed), n_estimators=50, random_state=seed)
        return banzhaf.fit(X, y).scores_

    scores, seconds = _timed(fit)
    return scores, None, seconds


def _one_score(X, y, model_name, score, seed):
    """``skinfluence.audit`` with one score: (scores, out-of-sample proba or None, seconds);
    None when the model cannot give that score."""
    if score in VALUATION:
        return _valuation(X, y, model_name, score, seed)
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


# ---------------------------------------------------------------------------------------
# Kinds of label noise, and the peers on each (``--peers``)
# ---------------------------------------------------------------------------------------
NOISES = ("uniform", "pair", "instance")


def pair_flips(y, noise_rate=NOISE_RATE, random_state=0):
    """Class-conditional ("pair") noise: a random ``noise_rate`` of the rows take the next
    class (class k -> k + 1 mod K, in sorted order), the systematic confusion of a tired
    annotator."""
    rng = np.random.default_rng(random_state)
    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    rows = rng.choice(len(y), round(noise_rate * len(y)), replace=False)
    noisy = codes.copy()
    noisy[rows] = (codes[rows] + 1) % len(classes)
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rows] = True
    return classes[noisy], flipped


def instance_flips(X, y, noise_rate=NOISE_RATE, random_state=0):
    """Instance-dependent noise: the flip probability rises near the decision boundary.

    A clean-label gradient boosting model's out-of-fold probabilities give each row its
    margin ``m`` (own class minus the most likely other class); ``noise_rate`` of the rows
    are drawn with probability proportional to ``(1 - |m|)² + 0.001`` and take that
    other class: the plausible mistakes, the hardest to find."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    folds = StratifiedKFold(5, shuffle=True, random_state=random_state)
    proba = cross_val_predict(
        HistGradientBoostingClassifier(random_state=random_state),
        X,
        codes,
        cv=folds,
        method="predict_proba",
    )
    own = proba[np.arange(len(y)), codes]
    others = proba.copy()
    others[np.arange(len(y)), codes] = -1.0
    weight = (1.0 - np.abs(own - others.max(axis=1))) ** 2 + 1e-3
    rng = np.random.default_rng(random_state)
    rows = rng.choice(len(y), round(noise_rate * len(y)), replace=False, p=weight / weight.sum())
    noisy = codes.copy()
    noisy[rows] = others.argmax(axis=1)[rows]
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rows] = True
    return classes[noisy], flipped


def noisy_labels(X, y, noise, seed):
    if noise == "uniform":
        return flip_labels(y, NOISE_RATE, random_state=seed)
    if noise == "pair":
        return pair_flips(y, NOISE_RATE, seed)
    return instance_flips(X, y, NOISE_RATE, seed)


def _cleanlab_end_to_end(X, y, model_name, seed):
    """cleanlab as its users run it: out-of-fold probabilities of the model (5 stratified
    folds), then its label quality (ranking) and find_label_issues (the count)."""
    from skinfluence._audit._scores import make_model

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    proba = cross_val_predict(make_model(model_name, seed), X, y, cv=folds, method="predict_proba")
    codes = np.searchsorted(np.unique(y), y)
    quality = get_label_quality_scores(codes, proba)
    find_label_issues(codes, proba)
    return 1.0 - quality


def _data_oob(X, y, seed, trees=500):
    """Data-OOB (Kwon & Zou 2023) on a random forest: the out-of-bag error of each row."""
    forest = RandomForestClassifier(trees, random_state=seed, n_jobs=1).fit(X, y)
    return DataOOBScorer(forest).fit(X, y).scores_


def run_peers(name, data, noise, seed, results, models=MODELS, data_oob=True):
    """The audit's default (end to end, per model) beside cleanlab on the same model's
    out-of-fold probabilities (end to end) and Data-OOB on a 500-tree random forest.
    Every entry: (AUPRC, seconds); ``{model} best family`` is the best single family's
    AUPRC inside the default (no time)."""
    X = np.asarray(data[0], dtype=np.float64)
    y, flipped = noisy_labels(X, np.asarray(data[1]), noise, seed)

    def auprc(values):
        return detection_scores(flipped, np.nan_to_num(np.asarray(values, dtype=float))).auprc

    row = {}
    for model_name in models:
        result, seconds = _timed(lambda m=model_name: audit(X, y, model=m, random_state=seed))
        row[f"audit {model_name}"] = (auprc(result.combined), seconds)
        scorer = result.combined_scorer
        families = {
            family: rank_average(
                {s: v for s, v in scorer.named_scores_.items() if scorer.family_of_[s] == family},
                scorer.family_of_,
            )
            for family in set(scorer.family_of_.values())
        }
        row[f"audit {model_name}, best family"] = (max(map(auprc, families.values())), 0.0)
        if cleanlab is not None:
            scores, seconds = _timed(lambda m=model_name: _cleanlab_end_to_end(X, y, m, seed))
            row[f"cleanlab {model_name}"] = (auprc(scores), seconds)
    if data_oob:
        scores, seconds = _timed(lambda: _data_oob(X, y, seed))
        row["Data-OOB, 500-tree random forest"] = (auprc(scores), seconds)
    results.setdefault((name, noise), []).append(row)
    return row


def print_peers(results):
    """AUPRC (mean ± std over seeds) per data set and noise; then time ratios."""
    columns = list(dict.fromkeys(c for rows in results.values() for r in rows for c in r))
    print("\n| data | noise | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 2) + "|")
    for (name, noise), rows in results.items():
        cells = [_cell([r[c][0] for r in rows if c in r]) if c in rows[0] else "–" for c in columns]
        print(f"| {name} | {noise} | " + " | ".join(cells) + " |")
    timed = [c for c in columns if c.startswith("audit ") and "family" not in c]
    print("\nSeconds, and the audit's time over cleanlab's on the same model (mean of the runs):\n")
    print("| data | noise | " + " | ".join(f"{c} s | ÷ cleanlab" for c in timed) + " |")
    print("|---" * (2 * len(timed) + 2) + "|")
    for (name, noise), rows in results.items():
        cells = []
        for c in timed:
            peer = "cleanlab " + c.removeprefix("audit ")
            ratio = (
                f"{np.mean([r[c][1] / r[peer][1] for r in rows]):.1f}×" if peer in rows[0] else "–"
            )
            cells.append(f"{np.mean([r[c][1] for r in rows]):.2f} | {ratio}")
        print(f"| {name} | {noise} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------------------
# Corrupted regression targets (``--regression``)
# ---------------------------------------------------------------------------------------
def _regression_datasets():
    return {
        "diabetes": lambda: load_diabetes(return_X_y=True),
        "friedman1": lambda: make_friedman1(1000, 10, noise=1.0, random_state=0),
    }


#: The shifts of the corrupted targets, in standard deviations of y: (low, high).
SHIFTS = {"3-6 sd": (3.0, 6.0), "1-2 sd": (1.0, 2.0)}


def shift_targets(y, noise_rate=NOISE_RATE, random_state=0, shift=(3.0, 6.0)):
    """``noise_rate`` of the targets shifted by ``shift`` (3 to 6 by default) standard
    deviations, either way."""
    rng = np.random.RandomState(random_state)
    rows = rng.choice(len(y), round(noise_rate * len(y)), replace=False)
    shifted = np.asarray(y, dtype=np.float64).copy()
    shifted[rows] += rng.uniform(*shift, len(rows)) * y.std() * rng.choice([-1, 1], len(rows))
    corrupted = np.zeros(len(y), dtype=bool)
    corrupted[rows] = True
    return shifted, corrupted


def run_regression(name, data, shift, seed, results, models=MODELS):
    """The audit's default on a continuous target beside cleanlab's regression scores on the
    same model: ``CleanLearning(model).find_label_issues`` (its own cross-validation and
    uncertainty) and ``get_label_quality_scores`` on 5-fold out-of-fold predictions."""
    from skinfluence._audit._scores import make_model

    X = np.asarray(data[0], dtype=np.float64)
    y, corrupted = shift_targets(np.asarray(data[1]), NOISE_RATE, seed, SHIFTS[shift])

    def auprc(values):
        return detection_scores(corrupted, np.asarray(values, dtype=float)).auprc

    row = {}
    for model_name in models:
        result, seconds = _timed(lambda m=model_name: audit(X, y, model=m, random_state=seed))
        row[f"audit {model_name}"] = (auprc(result.combined), seconds)
        if RegressionCleanLearning is None:
            continue
        model = make_model(model_name, seed, task="regression")
        issues, seconds = _timed(
            lambda m=model: RegressionCleanLearning(m, seed=seed).find_label_issues(X, y)
        )
        row[f"cleanlab CleanLearning {model_name}"] = (
            auprc(1.0 - issues["label_quality"]),
            seconds,
        )
        folds = KFold(5, shuffle=True, random_state=seed)
        predicted = cross_val_predict(
            make_model(model_name, seed, task="regression"), X, y, cv=folds
        )
        row[f"cleanlab out-of-fold {model_name}"] = (
            auprc(1.0 - regression_quality(y, predicted)),
            0.0,
        )
    results.setdefault((name, f"10% of targets shifted {shift}"), []).append(row)
    return row


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
        help=f"comma-separated audit models (default {','.join(MODELS)}; --peers: "
        f"{','.join(PEER_MODELS)}; 'mlp' needs the torch extra, absent from cleanlab's "
        "environment)",
    )
    parser.add_argument(
        "--scores",
        help=f"comma-separated subset of {','.join(CANDIDATES)}: those alone (and cleanlab "
        "with oof), no combinations",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="only the audit's default beside cleanlab (same model, end to end) and "
        "Data-OOB, for each kind of noise (--noise), with time ratios",
    )
    parser.add_argument(
        "--noise",
        default=",".join(NOISES),
        help=f"with --peers: comma-separated kinds of label noise ({', '.join(NOISES)})",
    )
    parser.add_argument(
        "--regression",
        action="store_true",
        help="corrupted regression targets: the audit beside cleanlab.regression",
    )
    parser.add_argument("--seeds", type=int, help="number of seeds (default 3; --quick: 1)")
    parser.add_argument(
        "--no-data-oob",
        action="store_true",
        help="with --peers: leave out Data-OOB (a 500-tree forest; for timing runs)",
    )
    args = parser.parse_args(argv)
    only = args.scores.split(",") if args.scores else None
    if args.peers or args.regression:
        return main_peers(args)
    datasets = _datasets()
    names = list(datasets)
    if args.datasets:
        names = args.datasets.split(",")
    elif args.quick:
        names = ["breast-cancer", "synthetic-nonlinear"]
    seeds = SEEDS[: args.seeds or (1 if args.quick else len(SEEDS))]
    models = args.models.split(",") if args.models else MODELS
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


def main_peers(args):
    """``--peers`` / ``--regression``: the comparison tables of benchmarks/README.md."""
    seeds = SEEDS[: args.seeds or (1 if args.quick else len(SEEDS))]
    models = args.models.split(",") if args.models else (MODELS if args.regression else PEER_MODELS)
    datasets = _regression_datasets() if args.regression else _datasets()
    names = args.datasets.split(",") if args.datasets else list(datasets)
    noises = list(SHIFTS) if args.regression else args.noise.split(",")
    print(
        f"cleanlab {cleanlab.__version__ if cleanlab else 'not installed: its rows are left out'}"
        f"; seeds {list(seeds)}; one thread per process; AUPRC mean ± std over seeds"
    )
    results = {}
    with threadpool_limits(1):
        for name in names:
            data = datasets[name]()
            for noise in noises:
                for seed in seeds:
                    if args.regression:
                        row = run_regression(name, data, noise, seed, results, models)
                    else:
                        row = run_peers(
                            name, data, noise, seed, results, models, not args.no_data_oob
                        )
                    print(
                        name,
                        noise,
                        seed,
                        {k: tuple(round(x, 3) for x in v) for k, v in row.items()},
                        flush=True,
                    )
    print_peers(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"|".join(k): v for k, v in results.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
