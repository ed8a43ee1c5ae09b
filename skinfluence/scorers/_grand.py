"""``GraNdScorer``: expected per-sample gradient norm early in training (Paul et al. 2021)."""

import numbers

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._progress import progress
from .._utils._random import draw_seeds
from .._validation import check_chunk_size, shared_constraints
from ..models import adapter_for
from ._base import BaseTrainingScorer
from ._probes import consensus_labels, fit_probe, probe_inputs


def _gradient_norms(adapter, estimator, X, y, classes, chunk_size):
    Xp, yp = probe_inputs(estimator, X, y, classes)
    return adapter.gradients(Xp, yp).row_norms(chunk_size=chunk_size)


def _fit_and_norms(estimator, probe_params, seed, X, y, sample_weight, classes, chunk_size):
    probe = fit_probe(estimator, probe_params, seed, X, y, sample_weight, classes)
    adapter = adapter_for(probe)
    return probe, adapter, _gradient_norms(adapter, probe, X, y, classes, chunk_size)


@inject_docs
class GraNdScorer(BaseTrainingScorer):
    """GraNd: the norm of each row's loss gradient, averaged over briefly trained probes.

    The probes are trained briefly (or not at all) from different seeds.

    ``scores_[i]`` is the mean over ``n_repeats`` probes of ``‖∇θ ℓ(z_i; θ_probe)‖₂``, the
    gradient of the loss the model minimises with respect to all its parameters. **Higher =
    harder**: rows the probes fit badly (or that sit far from the data, for linear models)
    pull hardest on the parameters.

    Read more in the :ref:`User Guide <grand>`.

    Parameters
    ----------
    %(estimator_retrained)s
        A model with a gradient adapter (:func:`skinfluence.models.adapter_for`): the linear
        families (closed form ``x̃ ⊗ r``), a Pipeline ending in one, or a skorch net (with
        the ``torch`` extra; per-sample gradients through ``torch.func``).
    %(n_repeats_probes)s
        Their mean is the expectation over initialisations.
    %(probe_params)s
        Here "briefly" may mean not at all: ``{"max_epochs": 0}`` evaluates the gradient
        at a skorch net's initial weights, ``{"max_iter": 1}`` after one scikit-learn
        iteration; None gives the gradient norm at the end of training.
    %(chunk_size)s
        Rows whose gradients are formed at once (default 4096).
    %(random_state)s
        Draws the probes' seeds.
    %(n_jobs)s
    %(verbose)s

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted probes.
    adapters_ : list of ModelAdapter
        Their gradient adapters.
    repeat_scores_ : ndarray of shape (n_repeats, n_train)
        Gradient norms under each probe.
    scores_ : ndarray of shape (n_train,)
        Their mean over the probes.
    classes_ : ndarray of shape (n_classes,)
        Defined for classifiers.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    EL2NScorer : the error norm; for a linear model with softmax output the gradient is
        ``x̃ ⊗ (p − onehot(y))``, so GraNd = EL2N × ``‖x̃‖`` per probe.
    skinfluence.PruningSelector : keeps a fraction of rows by this score.

    Notes
    -----
    The gradient is that of the unweighted per-sample loss ℓ in the adapter's sum-form
    objective (see :mod:`skinfluence.models`): for ``LogisticRegression`` the log-loss of
    the row w.r.t. ``[coef_, intercept_]``. For a linear model it is the closed form
    ``x̃_i ⊗ (∂ℓ/∂η_i)`` and ``‖g_i‖ = ‖x̃_i‖ ‖∂ℓ/∂η_i‖``, computed without forming the
    n × p gradient matrix. At the usual zero initialisation of a linear model every
    residual has the same size, so GraNd at initialisation only ranks rows by ``‖x̃_i‖``;
    the labels enter after a few iterations. Paul et al. average over 10 random
    initialisations of a deep net.

    Cost: ``n_repeats`` probe fits, plus O(n p) per probe for the norms (linear: O(nnz(X) +
    n K)); memory O(chunk_size · p).

    References
    ----------
    Paul, M., Ganguli, S. & Dziugaite, G. K. (2021). Deep learning on a data diet: finding
    important examples early in training. NeurIPS.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence import GraNdScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = GraNdScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 2})
    >>> scorer.fit(X, y).scores_.shape
    (150,)
    """

    score_name = "grand"

    _parameter_constraints = {  # noqa: RUF012
        **BaseTrainingScorer._parameter_constraints,
        **shared_constraints("chunk_size", "random_state", "n_jobs", "verbose"),
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
        "probe_params": [dict, None],
    }

    def __init__(
        self,
        estimator,
        *,
        n_repeats=5,
        probe_params=None,
        chunk_size=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_repeats = n_repeats
        self.probe_params = probe_params
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y, sample_weight):
        chunk = check_chunk_size(self.chunk_size)
        self.classes_ = None
        if is_classifier(self.estimator):
            check_classification_targets(y)
            self.classes_ = np.unique(y)
        seeds = draw_seeds(self.random_state, self.n_repeats)
        jobs = Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(_fit_and_norms)(
                self.estimator,
                self.probe_params,
                seed,
                X,
                y,
                sample_weight,
                self.classes_,
                chunk,
            )
            for seed in seeds
        )
        results = list(
            progress(
                jobs, verbose=self.verbose, total=len(seeds), desc=type(self).__name__, unit="probe"
            )
        )
        self.estimators_ = [probe for probe, _, _ in results]
        self.adapters_ = [adapter for _, adapter, _ in results]
        self.repeat_scores_ = np.stack([norms for _, _, norms in results])
        self.scores_ = self.repeat_scores_.mean(axis=0)

    def _score_samples(self, X, y):
        chunk = check_chunk_size(self.chunk_size)
        return np.mean(
            [
                _gradient_norms(a, p, X, y, self.classes_, chunk)
                for p, a in zip(self.estimators_, self.adapters_, strict=True)
            ],
            axis=0,
        )

    def _predicted_labels(self, X):
        return consensus_labels(self.estimators_, X, self.classes_)
