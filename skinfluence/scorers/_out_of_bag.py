"""``OutOfBagScorer``: the loss of each row's label under a forest's out-of-bag votes."""

import numpy as np
from sklearn.base import clone, is_regressor
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from .._utils._docstring import inject_docs
from .._utils._labels import align_proba, encode_labels, label_log_loss
from .._validation import shared_constraints
from ._base import BaseTrainingScorer, sample_weight_param
from ._data_oob import out_of_bag
from ._losses import per_sample_loss
from ._subsets import check_two_classes

#: Trees of the default forest: each leaves out 37% of the rows, so every row is out of ~110
#: of them and its out-of-bag vote has a standard error below 0.05. Fewer trees cost detection
#: (mislabel benchmark, AUPRC on synthetic-linear: 0.78 with 100 trees, 0.81 with 200, 0.83
#: with 300).
DEFAULT_TREES = 300


@inject_docs
class OutOfBagScorer(BaseTrainingScorer):
    """Loss of each row's given label under the votes of the trees that did not see it.

    A bagged forest is fitted once; ``scores_[i]`` is ``−log p(y_i | x_i)`` where ``p`` is
    the mean vote of the trees whose bootstrap sample left row i out (~37% of them): an
    out-of-sample loss without folds, from a nonlinear model family (cf. Data-OOB, Kwon &
    Zou 2023). **Higher = more suspect**.

    Read more in the :ref:`User Guide <audit_api>`.

    Parameters
    ----------
    estimator : bagging classifier or regressor, or None, default=None
        A forest with ``bootstrap`` and ``oob_score`` parameters that records its draws
        (``estimators_samples_``) after fit (``RandomForestClassifier``,
        ``ExtraTreesRegressor``, ``BaggingClassifier``, ...); a clone is fitted with
        ``bootstrap=True, oob_score=False``: the out-of-bag votes are computed once, by the
        pass of :class:`DataOOBScorer` over the trees that left each row out, equal to
        sklearn's ``oob_decision_function_`` (``oob_prediction_``). None: 300 fully
        grown extremely randomised trees, an ``ExtraTreesRegressor`` when ``y`` is
        continuous, else an ``ExtraTreesClassifier``.
    %(random_state)s
        Seeds the forest (set on the clone when not None).
    %(n_jobs)s
        Set on the forest's clone when not None.

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        The out-of-bag loss of each training row's label.
    out_of_sample_proba_ : ndarray of shape (n_train, n_classes)
        The out-of-bag class probabilities (columns: ``classes_``); uniform for a row that
        every tree saw (probability ~0.63^300 with the default). Classifiers only.
    out_of_sample_prediction_ : ndarray of shape (n_train,)
        The out-of-bag predictions (the mean target for a row every tree saw).
        Regressors only.
    estimator_ : estimator
        The fitted forest.
    classes_ : ndarray of shape (n_classes,)
        Classifiers only.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    LossScorer : the same loss under out-of-fold predictions of any model.
    DataOOBScorer : the members' out-of-bag accuracy, from the same out-of-bag pass.
    MemorizationScorer : Feldman & Zhang's in-minus-out accuracy over random subsets.
    CombinedScorer : combines it with other scores, by model family.

    Notes
    -----
    For rows not seen in fit, ``score_samples`` uses the whole forest.

    Cost: one forest fit, O(T n log n p') for T trees of ``max_features`` p' features, then
    each tree predicts its out-of-bag rows (as ``oob_score``); memory that of the trees,
    plus O(T n) bytes for the draws and O(n K).

    References
    ----------
    Kwon, Y. & Zou, J. (2023). Data-OOB: out-of-bag estimate as a simple and efficient data
    value. ICML.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skinfluence import OutOfBagScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = OutOfBagScorer(RandomForestClassifier(50), random_state=0).fit(X, y)
    >>> scorer.scores_.shape, scorer.out_of_sample_proba_.shape
    ((150,), (150, 3))
    """

    score_name = "out_of_bag"

    _parameter_constraints = {  # noqa: RUF012
        **shared_constraints("random_state", "n_jobs"),
        "estimator": [HasMethods(["fit", "predict_proba", "get_params"]), None],
    }

    def __init__(self, estimator=None, *, random_state=None, n_jobs=None):
        self.estimator = estimator
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _forest(self, y):
        if self.estimator is None:
            kind = (
                ExtraTreesRegressor if type_of_target(y) == "continuous" else ExtraTreesClassifier
            )
            return kind(
                DEFAULT_TREES,
                bootstrap=True,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
        forest = clone(self.estimator)
        names = forest.get_params(deep=False)
        if "oob_score" not in names or "bootstrap" not in names:
            raise TypeError(
                f"OutOfBagScorer needs a bagging classifier with bootstrap and oob_score "
                f"parameters (RandomForestClassifier, ExtraTreesClassifier, "
                f"BaggingClassifier); got {type(self.estimator).__name__}."
            )
        # oob_score=False: the out-of-bag votes are computed once, by out_of_bag.
        forest.set_params(bootstrap=True, oob_score=False)
        for name in ("random_state", "n_jobs"):
            if getattr(self, name) is not None and name in names:
                forest.set_params(**{name: getattr(self, name)})
        return forest

    def _fit(self, X, y, sample_weight):
        forest = self._forest(y)
        regressor = is_regressor(forest)
        if not regressor:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            check_two_classes(self, self.classes_)
        params = {} if sample_weight is None else sample_weight_param(forest, sample_weight)
        self.estimator_ = forest.fit(X, y, **params)
        if regressor:
            y = np.asarray(y, dtype=np.float64)
            codes, n_classes = y, None
        else:
            codes, n_classes = encode_labels(forest.classes_, y), len(forest.classes_)
        # The out-of-bag votes: Data-OOB's pass over the forest's own bootstrap draws.
        mean = out_of_bag(forest, X, codes, n_classes, n_jobs=self.n_jobs)["mean"]
        if regressor:
            predicted = mean.reshape(len(y))
            predicted[~np.isfinite(predicted)] = y.mean()
            self.out_of_sample_prediction_ = predicted
            self.scores_ = np.abs(y - predicted)
            return
        proba = align_proba(mean, forest.classes_, self.classes_)
        unseen = ~np.isfinite(proba).all(axis=1)
        proba[unseen] = 1.0 / proba.shape[1]
        self.out_of_sample_proba_ = proba
        self.scores_ = label_log_loss(proba, encode_labels(self.classes_, y))

    def _score_samples(self, X, y):
        if is_regressor(self.estimator_):
            return np.abs(np.asarray(y, dtype=np.float64) - self.estimator_.predict(X))
        return per_sample_loss(self.estimator_, X, y, classes=self.classes_)
