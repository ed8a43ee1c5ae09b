"""The audit's models and scores: each score ranks training rows, higher = more suspect.

A score is a :class:`ScoreSpec` in :data:`SCORES`: a name for ``--scorers``, a one-line
description, ``unavailable(ctx)`` (None, or why it cannot run with this model / install),
``make(ctx)`` (the unfitted scorer) and its model ``family``. The scorers of skinfluence
that need a gradient model run on the audit's model when it has an adapter; scores that come
from a second model family (a random forest) make the combined ranking robust when the
chosen model cannot fit the data. New scorers plug in by adding one entry; a new family
also names, in :data:`FAMILY_JUDGES`, the score whose out-of-sample predictions judge it.
"""

import importlib
import inspect
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from ..scorers._out_of_bag import DEFAULT_TREES
from ._errors import AuditDependencyError, AuditUsageError

MODELS = ("auto", "logistic", "hgb", "mlp", "lightgbm", "xgboost")
# Trees of the forests (the out-of-bag forest and the memorisation forest), see
# skinfluence.scorers._out_of_bag.DEFAULT_TREES.
FOREST_TREES = DEFAULT_TREES
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


def make_model(name, random_state=0, task="classification"):
    """The audit's model on numeric features (the feature map has already run).

    ``name`` is one of :data:`MODELS` or the user's own scikit-learn estimator (cloned).
    "auto" (the default) is histogram gradient boosting for class labels (the audit adds a
    standardised logistic regression beside it, :func:`linear_model`) and a standardised
    ``Ridge`` for a continuous target. For a continuous target, "logistic" is its linear
    counterpart, a standardised ``Ridge``, and "hgb" a ``HistGradientBoostingRegressor``.
    """
    if isinstance(name, BaseEstimator):
        return clone(name)
    if task == "regression":
        if name in ("auto", "logistic"):
            return make_pipeline(StandardScaler(), Ridge())
        if name == "hgb":
            return HistGradientBoostingRegressor(random_state=random_state)
        raise AuditUsageError(
            f"--model {name} is for class labels; a continuous target takes --model auto or "
            "logistic (a standardised ridge regression), hgb, or your own regressor"
        )
    if name == "logistic":
        return linear_model()
    if name in ("auto", "hgb"):
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
        from ._xgboost import LabelEncodedXGBClassifier  # XGBoost takes labels 0..K − 1 only

        return LabelEncodedXGBClassifier(random_state=random_state, n_jobs=1)
    raise ValueError(f"model must be one of {MODELS}; got {name!r}.")


def linear_model():
    """The standardised logistic regression of ``--model logistic`` and of the default's
    linear family."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


@dataclass
class AuditContext:
    """What every score needs: the model, the numeric training data and the run's settings."""

    model_name: str  # one of MODELS, or "custom" for the user's estimator
    model: object  # unfitted
    Z: np.ndarray  # numeric features of the training rows
    y: np.ndarray
    n_jobs: int | None = None
    random_state: int = 0
    task: str = "classification"  # or "regression" (a continuous target)
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

    def linear_gradient_model(self):
        """The default's linear family: a standardised logistic regression fitted on all
        rows, once, frozen (its self-influence refits nothing)."""
        if "linear" not in self.cache:
            self.cache["linear"] = linear_model().fit(self.Z, self.y)
        return FrozenEstimator(self.cache["linear"])

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
    """``make(ctx)``: an unfitted ``skinfluence.scorers.<name>`` for the audit's data.

    The scorer gets the audit's unfitted model (scorers that retrain: probes, subsets,
    leave-one-out), or ``estimator(ctx)``, and ``random_state`` and ``n_jobs`` where it
    takes them. The :class:`~skinfluence.CombinedScorer` fits it.
    """

    def make(ctx):
        from .. import scorers

        cls = getattr(scorers, name)
        accepted = inspect.signature(cls).parameters
        extra = {
            key: value
            for key, value in {"random_state": ctx.random_state, "n_jobs": ctx.n_jobs}.items()
            if key in accepted
        }
        model = ctx.model if estimator is None else estimator(ctx)
        return cls(model, **extra, **params)

    return make


def _linear(ctx):
    return linear_model()


def _frozen_fit(ctx):
    return FrozenEstimator(ctx.fitted_model)


def _model_free(name, **params):
    """``make(ctx)`` of a scorer that brings its own model (the forest)."""

    def make(ctx):
        from .. import scorers

        return getattr(scorers, name)(random_state=ctx.random_state, n_jobs=ctx.n_jobs, **params)

    return make


def _randomised_tree(ctx):
    return DecisionTreeClassifier(max_features="sqrt", random_state=ctx.random_state)


@dataclass(frozen=True)
class ScoreSpec:
    name: str
    description: str
    make: object  # make(ctx) -> an unfitted scorer
    unavailable: object = _always
    #: Model family of the score (see CombinedScorer): "model" for scores of --model,
    #: "linear" for the default's logistic regression beside boosting, "forest" for those
    #: of the randomised-tree forest. A new family is a new name here.
    family: str = "model"
    #: The targets it takes: class labels ("classification"), continuous ("regression").
    tasks: tuple = ("classification",)


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
            tasks=("classification", "regression"),
        ),
        ScoreSpec(
            "loss",
            "in-sample loss of the row's label under the fitted model (LossScorer, cv=None)",
            _scorer("LossScorer", _frozen_fit, cv=None),
        ),
        ScoreSpec(
            "oof",
            "out-of-fold loss of the row's label (stratified k-fold cross-validation of the "
            "model; LossScorer; rank-equivalent to cleanlab's self-confidence)",
            _scorer("LossScorer", cv=5, refit=False),
        ),
        ScoreSpec(
            "linear-self-influence",
            "self-influence (InfluenceScorer) of a standardised logistic regression: the "
            "linear family beside the boosting of --model auto",
            _scorer("InfluenceScorer", AuditContext.linear_gradient_model),
            family="linear",
        ),
        ScoreSpec(
            "linear-oof",
            "out-of-fold loss of the row's label under a standardised logistic regression "
            "(LossScorer, stratified 5-fold): the linear family beside the boosting of "
            "--model auto",
            _scorer("LossScorer", _linear, cv=5, refit=False),
            family="linear",
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
            "(OutOfBagScorer; cf. Data-OOB, Kwon & Zou 2023)",
            _model_free("OutOfBagScorer"),
            family="forest",
            tasks=("classification", "regression"),
        ),
        ScoreSpec(
            "residual",
            "absolute out-of-fold residual of the row's target (k-fold cross-validation of "
            "the model; ResidualScorer, scale='none'); continuous targets",
            _scorer("ResidualScorer", scale="none"),
            tasks=("regression",),
        ),
        ScoreSpec(
            "residual-local",
            "out-of-fold residual over the median absolute residual of the row's 20 nearest "
            "rows (ResidualScorer): judged against the noise where the row lies; continuous "
            "targets",
            _scorer("ResidualScorer", scale="local"),
            tasks=("regression",),
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
                # Feldman & Zhang's 0/1 memorisation, in [-1, 1]: fully grown trees fit every
                # row they saw, so it is the out-of-bag error. The loss (log-loss of 0/1
                # votes) ranks rows the same: AUPRC equal to 1e-4 on the mislabel benchmark's
                # five data sets, 3 seeds each.
                scoring="accuracy",
            ),
            _needs_scorer("MemorizationScorer"),
            family="forest",
        ),
        ScoreSpec(
            "loo",
            "actual leave-one-out self-influence by retraining n times (LeaveOneOutScorer; "
            "slow: the ground truth)",
            _scorer("LeaveOneOutScorer"),
            tasks=("classification", "regression"),
        ),
    ]
}

#: Per task, the score of each family whose out-of-sample predictions judge how well the
#: family fits (CombinedScorer's rule); added to a requested list that spans several
#: families without it.
FAMILY_JUDGES = {
    "classification": {"model": "oof", "linear": "linear-oof", "forest": "forest"},
    "regression": {"model": "residual", "forest": "forest"},
}

# The default combination. Self-influence of a linear model alone finds flipped labels worse
# than plain losses (see benchmarks/README.md, mislabel section); scores of the chosen model
# (its self-influence and out-of-fold loss) and of a second, nonlinear family (the forest's
# out-of-bag loss) enter, and the combination keeps the families that fit the labels as well
# as the best one (see skinfluence.scorers._combined).
DEFAULT_SCORES = ("self-influence", "oof", "forest")
#: The scores of --model auto for class labels: three families, the out-of-fold loss of
#: histogram gradient boosting, a standardised logistic regression's self-influence and
#: out-of-fold loss, and the forest. The boosting makes the forest a small share of the time
#: (0.9-2.2x cleanlab on the same boosting model, end to end), the linear family keeps the
#: sets a linear model fits (breast cancer); it ranks within 0.005 AUPRC of the logistic
#: default on 12 of 14 benchmark rows but costs 1.7-12.5x its seconds, so it is not the
#: default (benchmarks/README.md, "A boosting default?"). The boosting's own self-influence
#: (LeafInfluence) is left out: it costs about as much as its five out-of-fold fits.
AUTO_SCORES = ("oof", "linear-self-influence", "linear-oof", "forest")
#: The default for a continuous target: the same families, residuals for losses. The
#: absolute residual, not the locally scaled one: with 10% of targets shifted by 3-6 standard
#: deviations the local scale (inflated beside shifted rows) ranked worse (diabetes, AUPRC
#: 0.965 vs 0.999 with ridge, 0.877 vs 0.941 with boosting, seed 0).
DEFAULT_REGRESSION_SCORES = ("self-influence", "residual", "forest")


def resolve_scores(requested, ctx):
    """The scores to compute and notes on those left out; explicit requests must run."""
    if requested is None:
        if ctx.task == "regression":
            names = DEFAULT_REGRESSION_SCORES
        else:
            names = AUTO_SCORES if ctx.model_name == "auto" else DEFAULT_SCORES
        explicit = False
    else:
        names, explicit = requested, True
    chosen, notes = [], []
    for name in names:
        if name not in SCORES:
            raise AuditUsageError(
                f"unknown scorer {name!r} in --scorers; choose from {', '.join(SCORES)}"
            )
        reason = SCORES[name].unavailable(ctx)
        if ctx.task not in SCORES[name].tasks:
            reason = f"it takes {' or '.join(SCORES[name].tasks)} targets, not {ctx.task}"
        if reason is None:
            chosen.append(name)
        elif explicit:
            raise AuditUsageError(f"scorer {name!r} cannot run: {reason}")
        else:
            notes.append(f"score {name!r} skipped: {reason}")
    families = {SCORES[name].family for name in chosen}
    if len(families) > 1:
        for family in sorted(families):
            judge = FAMILY_JUDGES[ctx.task][family]
            if judge not in chosen:
                chosen.append(judge)
                notes.append(
                    f"score {judge!r} added: its out-of-sample predictions judge how well the "
                    f"{family} family fits the labels"
                )
    return chosen, notes
