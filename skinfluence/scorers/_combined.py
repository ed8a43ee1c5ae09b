"""``CombinedScorer``: the weighted mean rank of several scores, by model family.

Scores computed from the same model family (e.g. a logistic regression's self-influence and
its out-of-fold loss) are averaged by rank. With ``weights="family"`` each family is then
judged by how well its model predicts the given labels *out of sample* (the
``out_of_sample_proba_`` of a member: out-of-fold predictions, out-of-bag votes), and only
the families that fit as well as the best one enter the combination:

1. **Selection.** A family is kept unless its out-of-sample accuracy is significantly below
   the best family's: a paired test on the rows (the difference of the two per-row
   correctness indicators, mean over its standard error, must not exceed
   :data:`SELECTION_Z` = 1.96, the two-sided 5% level). A row's rank in a family's scores
   is high where that family's model misfits it, and a family that fits worse misfits more
   *correctly labelled* rows: averaging its ranks in adds those false alarms to the top of
   the ranking (measured on digits: the forest alone finds flips with AUPRC 0.994, the rank
   average with logistic-regression scores 0.990, see benchmarks/README.md). Families that
   fit equally well make different mistakes, and averaging them helps.
2. **Weights.** The kept families are weighted by Cohen's kappa of those same predictions
   (clipped at 0), so that two families that fit equally well count equally.

Selection and weights use only the given labels, never the (unknown) truth.
"""

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.metrics import cohen_kappa_score
from sklearn.utils import Bunch, get_tags
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseTrainingScorer

#: z of the paired test that drops a family fitting significantly worse than the best: the
#: usual 5% level, not tuned (z = 1 or 3 moved no AUPRC of the mislabel benchmark by more
#: than 0.003 with logistic regression).
SELECTION_Z = 1.96


def family_fit(y, probas, classes):
    """How well each model family predicts the given labels out of sample.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        The given labels.
    probas : dict of str to ndarray of shape (n_samples, n_classes)
        Out-of-sample class probabilities of each family (e.g. a :class:`LossScorer`'s or
        an :class:`OutOfBagScorer`'s ``out_of_sample_proba_``).
    classes : ndarray of shape (n_classes,)
        The sorted classes, the columns of the probabilities.

    Returns
    -------
    fit : dict of str to Bunch
        Per family, sorted by name: ``kappa`` (Cohen's kappa of its predictions),
        ``accuracy`` and ``kept`` (not significantly worse than the best family: the paired
        per-row difference of correctness within :data:`SELECTION_Z` standard errors).

    See Also
    --------
    family_weights : the weights :class:`CombinedScorer` gives the families from this.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.scorers import family_fit
    >>> y = np.array([0, 0, 1, 1])
    >>> good = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    >>> fit = family_fit(y, {"good": good, "flat": good[:, ::-1]}, np.array([0, 1]))
    >>> fit["good"].accuracy, fit["flat"].accuracy
    (1.0, 0.0)
    """
    families = sorted(probas)
    predicted = {f: classes[np.argmax(probas[f], axis=1)] for f in families}
    correct = {f: predicted[f] == y for f in families}
    best = max(families, key=lambda f: correct[f].mean())
    fit = {}
    for f in families:
        diff = correct[best].astype(np.float64) - correct[f]
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        fit[f] = Bunch(
            kappa=float(cohen_kappa_score(y, predicted[f])),
            accuracy=float(correct[f].mean()),
            kept=bool(diff.mean() <= SELECTION_Z * se),
        )
    return fit


def family_fit_regression(y, predictions):
    """How well each model family predicts continuous targets out of sample.

    The regression counterpart of :func:`family_fit`, on absolute errors (robust to the
    corrupted targets the audit looks for): a family is kept unless its mean absolute
    out-of-sample error exceeds the best family's by more than :data:`SELECTION_Z`
    standard errors of the paired per-row difference.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        The given targets.
    predictions : dict of str to ndarray of shape (n_samples,)
        Out-of-sample predictions of each family (``out_of_sample_prediction_``).

    Returns
    -------
    fit : dict of str to Bunch
        Per family, sorted by name: ``skill`` (1 − mean absolute error over the mean
        absolute deviation of y from its median: 0 = no better than the median), ``mae``
        and ``kept``.

    See Also
    --------
    family_fit : the classification rule.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.scorers import family_fit_regression
    >>> y = np.arange(10.0)
    >>> fit = family_fit_regression(y, {"good": y + 0.1, "flat": np.full(10, 4.5)})
    >>> fit["good"].kept, fit["flat"].kept
    (True, False)
    """
    y = np.asarray(y, dtype=np.float64)
    families = sorted(predictions)
    errors = {f: np.abs(y - np.asarray(predictions[f], dtype=np.float64)) for f in families}
    best = min(families, key=lambda f: errors[f].mean())
    spread = max(float(np.mean(np.abs(y - np.median(y)))), 1e-300)
    fit = {}
    for f in families:
        diff = errors[f] - errors[best]
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        fit[f] = Bunch(
            skill=float(1.0 - errors[f].mean() / spread),
            mae=float(errors[f].mean()),
            kept=bool(diff.mean() <= SELECTION_Z * se),
        )
    return fit


def _skill(b):
    return b.kappa if "kappa" in b else b.skill


def family_weights(fit, rule="family"):
    """The weight of each model family in a :class:`CombinedScorer`.

    Parameters
    ----------
    fit : dict of str to Bunch
        :func:`family_fit`'s result (or :func:`family_fit_regression`'s: its ``skill``
        takes the place of kappa).
    rule : {"family", "kappa", "equal"}, default="family"
        ``"family"``: Cohen's kappa (clipped at 0) of the kept families, 0 for the others
        (all 1 when none beats chance); ``"kappa"``: every family kappa-weighted;
        ``"equal"``: all 1. One family: weight 1.

    Returns
    -------
    weights : dict of str to float
        The weight of each family.

    See Also
    --------
    rank_average : combines scores with these weights.

    Examples
    --------
    >>> from sklearn.utils import Bunch
    >>> from skinfluence.scorers import family_weights
    >>> fit = {"forest": Bunch(kappa=0.7, kept=True), "linear": Bunch(kappa=0.4, kept=False)}
    >>> family_weights(fit)
    {'forest': 0.7, 'linear': 0.0}
    """
    if rule == "equal" or len(fit) < 2:
        return dict.fromkeys(fit, 1.0)
    weights = {
        f: max(0.0, _skill(b)) if (b.kept or rule == "kappa") else 0.0 for f, b in fit.items()
    }
    if sum(weights.values()) == 0:  # no kept family beats chance: keep every score, equally
        return dict.fromkeys(fit, 1.0)
    return weights


def rank_average(scores, family_of, weights=None):
    """Weighted mean rank in [0, 1] (higher = more suspect) of several scores.

    Ranks (``rankdata / n``, ties averaged, NaN lowest) are averaged within a family, then
    across families with ``weights``.

    Parameters
    ----------
    scores : dict of str to ndarray of shape (n_samples,)
        The scores, by name (higher = more suspect).
    family_of : dict of str to str
        The family of each score (a score left out is a family of its own).
    weights : dict of str to float, default=None
        The weight of each family (all 1 if None).

    Returns
    -------
    combined : ndarray of shape (n_samples,)
        The combined score of each row.

    See Also
    --------
    CombinedScorer : fits the scorers and combines them this way.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.scorers import rank_average
    >>> rank_average({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([3.0, 2.0, 1.0])}, {})
    array([0.66666667, 0.66666667, 0.66666667])
    """
    by_family = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        ranks = rankdata(np.nan_to_num(values, nan=-np.inf), method="average") / len(values)
        by_family.setdefault(family_of.get(name, name), []).append(ranks)
    weights = weights or dict.fromkeys(by_family, 1.0)
    total = sum(weights[f] for f in by_family)
    return sum(weights[f] * np.mean(r, axis=0) for f, r in by_family.items()) / total


def _entries(scorers):
    """The (name, scorer) pairs of ``scorers`` that are well formed (others fail in fit)."""
    return [e for e in scorers if isinstance(e, tuple) and len(e) == 2]


class CombinedScorer(BaseTrainingScorer):
    """Weighted mean rank of several scorers' scores, the weights set by model family.

    ``scores_[i]`` in [0, 1] is the mean rank of row i over the member scores, averaged
    within each model family and then across families. **Higher = more suspect.** With
    ``weights="family"`` (the rule of ``skinfluence audit``), a family whose model predicts
    the given labels significantly worse out of sample than the best family's gets weight 0,
    the others Cohen's kappa of their out-of-sample predictions (see Notes).

    Read more in the :ref:`User Guide <audit_api>`.

    Parameters
    ----------
    scorers : list of (str, scorer) tuples
        The member scorers, by name (as a ``FeatureUnion`` takes transformers). ``fit``
        fits a clone of each on the same rows.
    families : dict of str to str or None, default=None
        The model family of each member, by name; a member left out is a family of its own
        (None: every member is its own family). Members of one family are averaged by rank
        before families are weighted.
    weights : {"family", "kappa", "equal"} or dict of str to float, default="family"
        ``"family"``: the selection rule of Notes; ``"kappa"``: every family weighted by
        its kappa; ``"equal"``: plain mean over families; a dict: fixed weights by family.
        ``"family"`` and ``"kappa"`` need, in each family, a member with
        ``out_of_sample_proba_`` after fit (:class:`LossScorer`, :class:`OutOfBagScorer`),
        or, for regression, ``out_of_sample_prediction_`` (:class:`ResidualScorer`,
        :class:`OutOfBagScorer` on a regressor): families are then judged by their
        absolute out-of-sample errors (:func:`family_fit_regression`).

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        The combined score of each training row, in [0, 1].
    named_scorers_ : dict of str to scorer
        The fitted members.
    named_scores_ : dict of str to ndarray of shape (n_train,)
        Each member's ``scores_``.
    family_of_ : dict of str to str
        The family of each member.
    family_fit_ : dict of str to Bunch
        Per family with out-of-sample predictions: ``accuracy``, ``kappa`` and ``kept``
        (not significantly worse than the best family).
    family_weights_ : dict of str to float
        The weight of each family in ``scores_``.
    out_of_sample_proba_ : ndarray of shape (n_train, n_classes) or None
        The families' out-of-sample class probabilities averaged with their weights
        (None when no member has any): a prediction of each row's label by models that did
        not see it.
    out_of_sample_prediction_ : ndarray of shape (n_train,) or None
        Regression: the families' out-of-sample predictions averaged with their weights.
    classes_ : ndarray of shape (n_classes,)
        Classification only.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    LossScorer : the out-of-fold loss, which judges its model's family.
    OutOfBagScorer : a forest's out-of-bag loss, a second, nonlinear family.
    skinfluence.audit : the audit built on this combination.
    skinfluence.PruningSelector : keeps a fraction of rows by any scorer, this one included.

    Notes
    -----
    A family is kept unless its out-of-sample accuracy is below the best family's by more
    than 1.96 standard errors of the paired per-row difference of correctness. Families
    that fit worse misfit more correctly labelled rows, so their ranks would crowd the top
    with false alarms; families that fit equally well make different mistakes, and their
    average ranks better than either. Only the given labels enter the rule.

    ``score_samples(X, y)`` ranks the rows of X among themselves: the members'
    ``score_samples``, combined with the weights found in fit.

    Cost: the members' fits, plus O(m n log n) for m members' ranks and O(n K) per family.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence import CombinedScorer, LossScorer, OutOfBagScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> combined = CombinedScorer(
    ...     [("oof", LossScorer(LogisticRegression(max_iter=500), random_state=0)),
    ...      ("forest", OutOfBagScorer(random_state=0))],
    ...     families={"oof": "linear", "forest": "forest"},
    ... ).fit(X, y)
    >>> combined.scores_.shape, sorted(combined.family_weights_)
    ((150,), ['forest', 'linear'])
    """

    score_name = "combined"

    _parameter_constraints = {  # noqa: RUF012
        "scorers": [list],
        "families": [dict, None],
        "weights": [StrOptions({"family", "kappa", "equal"}), dict],
    }

    def __init__(self, scorers, *, families=None, weights="family"):
        self.scorers = scorers
        self.families = families
        self.weights = weights

    def _accepts_raw_X(self):
        """Raw X (a DataFrame with text columns) when a member's Pipeline takes it."""
        return any(
            isinstance(s, BaseTrainingScorer) and s._accepts_raw_X()
            for _, s in _entries(self.scorers)
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = not self._accepts_raw_X() and all(
            get_tags(s).input_tags.sparse for _, s in _entries(self.scorers)
        )
        return tags

    def _check_scorers(self):
        names = []
        for entry in self.scorers:
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ValueError(
                    "scorers must be a list of (name, scorer) tuples, e.g. "
                    f"[('oof', LossScorer(model))]; got the entry {entry!r}."
                )
            names.append(entry[0])
        if not names or len(set(names)) != len(names):
            raise ValueError(f"scorers needs at least one scorer and unique names; got {names}.")
        unknown = set(self.families or {}) - set(names)
        if unknown:
            raise ValueError(
                f"families names scorers that are not in scorers: {sorted(unknown)}; the "
                f"scorers are {names}."
            )
        return names

    def _fit(self, X, y, sample_weight):
        names = self._check_scorers()
        families = self.families or {}
        self.family_of_ = {name: families.get(name, name) for name in names}
        self.named_scorers_ = {}
        for name, scorer in self.scorers:
            fitted = clone(scorer)
            fitted.fit(X, y) if sample_weight is None else fitted.fit(X, y, sample_weight)
            self.named_scorers_[name] = fitted
        self.named_scores_ = {
            name: np.asarray(s.scores_, dtype=np.float64) for name, s in self.named_scorers_.items()
        }
        probas = self._family_outputs("out_of_sample_proba_")
        predictions = self._family_outputs("out_of_sample_prediction_")
        self.out_of_sample_prediction_ = None
        if predictions and not probas:  # regressors
            self.family_fit_ = family_fit_regression(y, predictions) if len(predictions) > 1 else {}
            self.family_weights_ = self._weights(predictions)
            self.out_of_sample_prediction_ = self._combined_proba(predictions)
            self.out_of_sample_proba_ = None
        else:
            self.classes_ = np.unique(y)
            self.family_fit_ = family_fit(y, probas, self.classes_) if len(probas) > 1 else {}
            self.family_weights_ = self._weights(probas)
            self.out_of_sample_proba_ = self._combined_proba(probas)
        self.scores_ = rank_average(self.named_scores_, self.family_of_, self.family_weights_)

    def _family_outputs(self, attribute):
        """The out-of-sample probabilities (or predictions) of each family: its first member
        that has them."""
        probas = {}
        for name, scorer in self.named_scorers_.items():
            proba = getattr(scorer, attribute, None)
            family = self.family_of_[name]
            if proba is not None and family not in probas:
                probas[family] = np.asarray(proba, dtype=np.float64)
        return probas

    def _weights(self, probas):
        families = sorted(set(self.family_of_.values()))
        if isinstance(self.weights, dict):
            missing = set(families) - set(self.weights)
            if missing:
                raise ValueError(
                    f"weights has no entry for the families {sorted(missing)}; give one per "
                    f"family ({families})."
                )
            return {f: float(self.weights[f]) for f in families}
        if self.weights == "equal" or len(families) < 2:
            return dict.fromkeys(families, 1.0)
        missing = set(families) - set(probas)
        if missing:
            raise ValueError(
                f"weights={self.weights!r} judges each family by out-of-sample predictions, "
                f"but no member of the families {sorted(missing)} has out-of-sample "
                "predictions (out_of_sample_proba_ or out_of_sample_prediction_); "
                "add a LossScorer of that family's model to it, or use weights='equal'."
            )
        return family_weights(self.family_fit_, self.weights)

    def _combined_proba(self, probas):
        used = {f: w for f, w in self.family_weights_.items() if f in probas and w > 0}
        if not used:
            return next(iter(probas.values()), None)
        total = sum(used.values())
        return sum(w * probas[f] for f, w in used.items()) / total

    def _score_samples(self, X, y):
        scores = {name: s.score_samples(X, y) for name, s in self.named_scorers_.items()}
        return rank_average(scores, self.family_of_, self.family_weights_)

    def _predicted_labels(self, X):
        """The first member's prediction (a label-free combined score needs one label)."""
        check_is_fitted(self)
        return next(iter(self.named_scorers_.values())).predicted_labels(X)
