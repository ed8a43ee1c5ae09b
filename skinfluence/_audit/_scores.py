"""The audit's models and scores: each score ranks training rows, higher = more suspect.

A score is a :class:`ScoreSpec` in :data:`SCORES`: a name for ``--scorers``, a one-line
description, ``unavailable(ctx)`` (None, or why it cannot run with this model / install) and
``compute(ctx)``. The scorers of skinfluence that need a gradient model run on the audit's
model when it has an adapter; scores that come from a second model family (a random forest)
make the combined ranking robust when the chosen model cannot fit the data. New scorers
plug in by adding one entry.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from ..scorers import per_sample_loss

MODELS = ("logistic", "hgb", "mlp")
# Trees of the memorisation forest: each leaves out 37% of the rows, so every row is out of
# ~110 of them, and its out-of-bag accuracy has a standard error below 0.05.
MEMORIZATION_TREES = 300


def make_model(name, random_state=0):
    """The audit's model on numeric features (the feature map has already run)."""
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if name == "hgb":
        return HistGradientBoostingClassifier(random_state=random_state)
    if name == "mlp":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000, random_state=random_state),
        )
    raise ValueError(f"model must be one of {MODELS}; got {name!r}.")


@dataclass
class AuditContext:
    """What every score needs: the model, the numeric training data and the run's settings."""

    model_name: str
    model: object  # unfitted
    Z: np.ndarray  # numeric features of the training rows
    y: np.ndarray
    n_jobs: int | None = None
    random_state: int = 0
    cache: dict = field(default_factory=dict)

    @property
    def fitted_model(self):
        if "fitted" not in self.cache:
            self.cache["fitted"] = clone(self.model).fit(self.Z, self.y)
        return self.cache["fitted"]

    @property
    def n_folds(self):
        return int(min(5, np.unique(self.y, return_counts=True)[1].min()))

    def out_of_fold_proba(self):
        """Stratified k-fold out-of-fold ``predict_proba`` of the model (computed once)."""
        if "oof_proba" not in self.cache:
            cv = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
            self.cache["oof_proba"] = cross_val_predict(
                self.model, self.Z, self.y, cv=cv, method="predict_proba", n_jobs=self.n_jobs
            )
        return self.cache["oof_proba"]

    def has_gradients(self):
        from ..models import adapter_for

        try:
            adapter_for(self.fitted_model)
        except TypeError:
            return False
        return True


def _needs_gradients(ctx):
    if ctx.has_gradients():
        return None
    return (
        f"needs a model with gradients; --model {ctx.model_name} has none here "
        "(use --model logistic)"
    )


def _needs_scorer(name):
    def unavailable(ctx):
        from .. import scorers

        return None if hasattr(scorers, name) else f"skinfluence has no {name} in this version"

    return unavailable


def _always(ctx):
    return None


def _scorer(name, estimator=None, **params):
    """``compute`` fitting ``skinfluence.scorers.<name>`` on the audit's data.

    The scorer gets the audit's model (or ``estimator``), and ``random_state`` and
    ``n_jobs`` where it takes them.
    """

    def compute(ctx):
        from .. import scorers

        cls = getattr(scorers, name)
        accepted = inspect.signature(cls).parameters
        extra = {
            key: value
            for key, value in {"random_state": ctx.random_state, "n_jobs": ctx.n_jobs}.items()
            if key in accepted
        }
        model = ctx.model if estimator is None else estimator(ctx)
        ctx.cache[name] = cls(model, **extra, **params).fit(ctx.Z, ctx.y)
        return ctx.cache[name].scores_

    return compute


def _loss(ctx):
    return per_sample_loss(ctx.fitted_model, ctx.Z, ctx.y)


def _out_of_fold(ctx):
    codes = np.searchsorted(np.unique(ctx.y), ctx.y)
    proba = ctx.out_of_fold_proba()
    return -np.log(np.clip(proba[np.arange(len(ctx.y)), codes], 1e-15, 1.0))


def _randomised_tree(ctx):
    return DecisionTreeClassifier(max_features="sqrt", random_state=ctx.random_state)


@dataclass(frozen=True)
class ScoreSpec:
    name: str
    description: str
    compute: object
    unavailable: object = _always
    #: "model": computed from --model; "forest": from the randomised-tree forest.
    family: str = "model"


SCORES = {
    spec.name: spec
    for spec in [
        ScoreSpec(
            "self-influence",
            "influence-function estimate of how much the row's own loss rises when it is "
            "left out (InfluenceScorer; Koh & Liang 2017); gradient models only",
            _scorer("InfluenceScorer"),
            _needs_gradients,
        ),
        ScoreSpec("loss", "in-sample loss of the row's label under the fitted model", _loss),
        ScoreSpec(
            "oof",
            "out-of-fold loss of the row's label (stratified k-fold cross-validation of the "
            "model; rank-equivalent to cleanlab's self-confidence)",
            _out_of_fold,
        ),
        ScoreSpec(
            "el2n",
            "EL2N: error norm of briefly trained probes of the model (EL2NScorer; Paul et "
            "al. 2021)",
            _scorer("EL2NScorer"),
            _needs_scorer("EL2NScorer"),
        ),
        ScoreSpec(
            "grand",
            "GraNd: per-sample gradient norm of probes (GraNdScorer; Paul et al. 2021); "
            "gradient models only",
            _scorer("GraNdScorer"),
            lambda ctx: _needs_scorer("GraNdScorer")(ctx) or _needs_gradients(ctx),
        ),
        ScoreSpec(
            "oga",
            "outlier gradient analysis: an outlier detector on per-sample gradients "
            "(GradientOutlierScorer; Chhabra et al. 2024); gradient models only",
            _scorer("GradientOutlierScorer"),
            lambda ctx: _needs_scorer("GradientOutlierScorer")(ctx) or _needs_gradients(ctx),
        ),
        ScoreSpec(
            "memorization",
            f"Feldman-Zhang memorisation under {MEMORIZATION_TREES} randomised trees, each "
            "fitted on a random 63% of the rows: a forest's out-of-bag error, a second model "
            "family beside --model (MemorizationScorer; cf. Data-OOB, Kwon & Zou 2023)",
            _scorer(
                "MemorizationScorer",
                _randomised_tree,
                n_estimators=MEMORIZATION_TREES,
                subsample=0.632,
            ),
            _needs_scorer("MemorizationScorer"),
            family="forest",
        ),
        ScoreSpec(
            "loo",
            "actual leave-one-out self-influence by retraining n times (LeaveOneOutScorer; "
            "slow: the ground truth)",
            _scorer("LeaveOneOutScorer"),
        ),
    ]
}

# The default combination. Self-influence of a linear model alone finds flipped labels worse
# than plain losses (see benchmarks/README.md, mislabel section); the rank average of scores
# from the chosen model, its out-of-fold fit and a forest is what wins across data sets.
DEFAULT_SCORES = ("self-influence", "oof", "memorization")


def resolve_scores(requested, ctx):
    """The scores to compute and notes on those left out; explicit requests must run."""
    from ._errors import AuditUsageError

    if requested is None:
        names, explicit = DEFAULT_SCORES, False
    else:
        names, explicit = requested, True
    chosen, notes = [], []
    for name in names:
        if name not in SCORES:
            raise AuditUsageError(
                f"unknown scorer {name!r} in --scorers; choose from {', '.join(SCORES)}"
            )
        reason = SCORES[name].unavailable(ctx)
        if reason is None:
            chosen.append(name)
        elif explicit:
            raise AuditUsageError(f"scorer {name!r} cannot run: {reason}")
        else:
            notes.append(f"score {name!r} skipped: {reason}")
    return chosen, notes
