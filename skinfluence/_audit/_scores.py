"""The audit's models and scores: each score ranks training rows, higher = more suspect.

A score is a :class:`ScoreSpec` in :data:`SCORES`: a name for ``--scorers``, a one-line
description, ``unavailable(ctx)`` (None, or why it cannot run with this model / install) and
``compute(ctx)``. The scorers of skinfluence that need a gradient model run on the audit's
model when it has an adapter; scores that come from a second model family (a random forest)
make the combined ranking robust when the chosen model cannot fit the data. New scorers
plug in by adding one entry.
"""

import importlib
import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from .._utils._labels import encode_labels, label_log_loss
from ..scorers import per_sample_loss
from ._errors import AuditDependencyError

MODELS = ("logistic", "hgb", "mlp", "lightgbm", "xgboost")
# Trees of the forests (the out-of-bag forest and the memorisation forest): each leaves out
# 37% of the rows, so every row is out of ~110 of them, and its out-of-bag vote has a standard
# error below 0.05. Fewer trees cost detection (mislabel benchmark, extremely randomised
# forest, AUPRC on synthetic-linear: 0.78 with 100 trees, 0.81 with 200, 0.83 with 300).
FOREST_TREES = 300
MEMORIZATION_TREES = FOREST_TREES


def import_mlp():
    """:mod:`skinfluence.torch._mlp` (imports torch and skorch, the "torch" extra), or the
    audit's dependency error naming the extra."""
    try:  # through sys.modules, not the package's attribute (tests remove the module)
        return importlib.import_module("..torch._mlp", __package__)
    except ImportError as exc:
        raise AuditDependencyError(
            "--model mlp needs torch and skorch: pip install skinfluence[torch]"
        ) from exc


def make_model(name, random_state=0):
    """The audit's model on numeric features (the feature map has already run)."""
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if name == "hgb":
        return HistGradientBoostingClassifier(random_state=random_state)
    if name == "mlp":
        return import_mlp().make_mlp(random_state)
    if name in ("lightgbm", "xgboost"):
        # Boosted trees whose self-influence (LeafInfluence) the tree readers model exactly:
        # no row subsampling. Imported here only (the "boosting" extra).
        try:
            library = importlib.import_module(name)
        except ImportError as exc:
            raise AuditDependencyError(
                f"--model {name} needs {name}: pip install skinfluence[boosting]"
            ) from exc
        if name == "lightgbm":
            return library.LGBMClassifier(verbose=-1, random_state=random_state, n_jobs=1)
        return library.XGBClassifier(random_state=random_state, n_jobs=1)
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
        """The model fitted on all rows, once: every score that needs it shares this fit."""
        if "fitted" not in self.cache:
            self.cache["fitted"] = clone(self.model).fit(self.Z, self.y)
        return self.cache["fitted"]

    def gradient_model(self):
        """The fitted model, frozen, for the gradient scorers (they refit nothing).

        For the MLP, gradients are taken w.r.t. its output layer only (``ParameterSubset``):
        the influence of a row on a network's last layer, as in Koh & Liang (2017).
        """
        fitted = self.fitted_model
        if self.model_name == "mlp":
            return import_mlp().last_layer(fitted)
        return FrozenEstimator(fitted)

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

    def forest_oob_proba(self):
        """Out-of-bag class probabilities of an extremely randomised forest (fitted once).

        Each row's probabilities are the mean vote of the ~37% of the trees whose bootstrap
        sample left it out. Fully grown trees, the model family of its own beside --model.
        """
        if "forest_proba" not in self.cache:
            forest = ExtraTreesClassifier(
                FOREST_TREES,
                bootstrap=True,
                oob_score=True,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
            with warnings.catch_warnings():  # rows never out of bag: P ~ 0.63**300, ~0
                warnings.simplefilter("ignore", UserWarning)
                forest.fit(self.Z, self.y)
            proba = np.asarray(forest.oob_decision_function_, dtype=np.float64)
            unseen = ~np.isfinite(proba).all(axis=1)
            proba[unseen] = 1.0 / proba.shape[1]
            self.cache["forest"] = forest
            self.cache["forest_proba"] = proba
        return self.cache["forest_proba"]

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

    The scorer gets the audit's unfitted model (scorers that retrain: probes, subsets,
    leave-one-out), or ``estimator(ctx)``, and ``random_state`` and ``n_jobs`` where it
    takes them.
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


def _label_loss(proba, y):
    """Log-loss of each row's given label under class probabilities (columns = sorted classes)."""
    return label_log_loss(proba, encode_labels(np.unique(y), y))


def _out_of_fold(ctx):
    return _label_loss(ctx.out_of_fold_proba(), ctx.y)


def _forest(ctx):
    return _label_loss(ctx.forest_oob_proba(), ctx.y)


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
            "left out (InfluenceScorer; Koh & Liang 2017); gradient models, and boosted "
            "trees (--model hgb/lightgbm/xgboost: LeafInfluence with the splits held fixed, "
            "Brophy et al. 2023)",
            _scorer("InfluenceScorer", AuditContext.gradient_model),
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
            _scorer("GradientOutlierScorer", AuditContext.gradient_model),
            lambda ctx: _needs_scorer("GradientOutlierScorer")(ctx) or _needs_gradients(ctx),
        ),
        ScoreSpec(
            "forest",
            f"out-of-bag loss of the row's label under an extremely randomised forest "
            f"({FOREST_TREES} fully grown trees on bootstrap samples; each row scored by the "
            "vote of the trees that did not see it): a nonlinear model family beside --model "
            "(cf. Data-OOB, Kwon & Zou 2023)",
            _forest,
            family="forest",
        ),
        ScoreSpec(
            "memorization",
            f"Feldman-Zhang memorisation under {MEMORIZATION_TREES} randomised trees, each "
            "fitted on a random 63% of the rows: their out-of-bag error, in the forest "
            "family (MemorizationScorer; Feldman & Zhang 2020)",
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
# than plain losses (see benchmarks/README.md, mislabel section); scores of the chosen model
# (its self-influence and out-of-fold loss) and of a second, nonlinear family (the forest's
# out-of-bag loss) enter, and the combination keeps the families that fit the labels as well
# as the best one (see _combine.py).
DEFAULT_SCORES = ("self-influence", "oof", "forest")


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
