"""Adapter for a ``Pipeline``: the earlier steps are a fixed feature map."""

import copy

from .._utils._docstring import inherit_docstrings, inject_docs
from ._base import GaussNewton, GeneralizedLinear, KroneckerFactored, ModelAdapter


@inherit_docstrings
@inject_docs
class PipelineAdapter(ModelAdapter):
    """Adapter of a fitted ``Pipeline``: the final step's parameters, the earlier steps fixed.

    Influence is taken with respect to the last step's parameters, on the features the
    earlier steps produce. The transformers are treated as fixed (not refitted when a row is
    left out), which is what first-order influence of the final model measures. Build it with
    :meth:`of` (as :func:`adapter_for` does), which returns a
    :class:`GeneralizedLinearPipelineAdapter` when the final step's adapter is
    :class:`~skinfluence.models.GeneralizedLinear`. Every method maps raw rows through the
    earlier steps and hands them to the final step's adapter.

    Parameters
    ----------
    %(pipeline_and_inner)s

    Attributes
    ----------
    inner : ModelAdapter
        The adapter of the final step.
    feature_map : Pipeline
        The earlier steps (fitted).

    See Also
    --------
    adapter_for : builds this adapter for a fitted Pipeline.
    GeneralizedLinearPipelineAdapter : the same, with the final step's GLM capability.

    Examples
    --------
    The scaler is a fixed feature map; θ is the logistic regression's:

    >>> from sklearn import datasets, linear_model, pipeline, preprocessing
    >>> from skinfluence.models import PipelineAdapter, adapter_for
    >>> X, y = datasets.load_iris(return_X_y=True)
    >>> model = pipeline.make_pipeline(
    ...     preprocessing.StandardScaler(), linear_model.LogisticRegression()
    ... )
    >>> adapter = adapter_for(model.fit(X, y))
    >>> isinstance(adapter, PipelineAdapter), adapter.n_params, adapter.features(X).shape
    (True, 15, (150, 4))
    """

    def __init__(self, pipeline, inner):
        super().__init__(pipeline)
        self.inner = inner
        self.feature_map = pipeline[:-1]

    @classmethod
    def of(cls, pipeline, inner):
        """Build the adapter of a pipeline, with its final step's capabilities.

        Parameters
        ----------
        %(pipeline_and_inner)s

        Returns
        -------
        adapter : PipelineAdapter
            A :class:`GeneralizedLinearPipelineAdapter` when ``inner`` is
            :class:`~skinfluence.models.GeneralizedLinear`; else one that forwards the
            :class:`~skinfluence.models.GaussNewton` (and
            :class:`~skinfluence.models.KroneckerFactored`) capability when ``inner`` has it;
            else a plain PipelineAdapter.
        """
        if isinstance(inner, GeneralizedLinear):
            return GeneralizedLinearPipelineAdapter(pipeline, inner)
        if isinstance(inner, GaussNewton) and isinstance(inner, KroneckerFactored):
            return _KroneckerPipelineAdapter(pipeline, inner)
        if isinstance(inner, GaussNewton):
            return _GaussNewtonPipelineAdapter(pipeline, inner)
        return PipelineAdapter(pipeline, inner)

    def astype(self, dtype):
        """Return the pipeline's adapter with its final step computing in ``dtype``.

        The feature map is kept as it is (its transformers compute as they do).

        Parameters
        ----------
        dtype : numpy dtype or str
            ``float64``, or ``float32`` where the final step's family supports it.

        Returns
        -------
        adapter : PipelineAdapter
            With the capabilities of the converted final step.
        """
        return PipelineAdapter.of(self.estimator, self.inner.astype(dtype))

    # The final step's declarations hold for the pipeline (its feature map is fixed).
    @property
    def fit_selects_hyperparameters(self):
        """Whether the final step's fit selects its hyper-parameters."""
        return self.inner.fit_selects_hyperparameters

    @property
    def convex_objective(self):
        """Whether the final step's training objective is convex in θ."""
        return self.inner.convex_objective

    @property
    def layout_depends_on_rows(self):
        """Whether the final step's θ layout depends on the training rows."""
        return self.inner.layout_depends_on_rows

    @property
    def n_params(self):
        return self.inner.n_params

    def params(self):
        return self.inner.params()

    def with_params(self, theta):
        stepped = self.inner.with_params(theta)
        pipeline = copy.copy(self.estimator)  # shallow: the fitted transformers are shared
        pipeline.steps = [
            *self.estimator.steps[:-1],
            (self.estimator.steps[-1][0], stepped.estimator),
        ]
        return type(self)(pipeline, stepped)

    def features(self, X):
        return self.inner.features(self.feature_map.transform(X))

    def encode_target(self, y):
        return self.inner.encode_target(y)

    def row_weights(self, y, sample_weight=None):
        return self.inner.row_weights(y, sample_weight)

    def check_optimum(self, X, y, sample_weight=None, solve=None):
        return self.inner.check_optimum(self.feature_map.transform(X), y, sample_weight, solve)

    def penalty_shares(self, y, sample_weight=None):
        return self.inner.penalty_shares(y, sample_weight)

    def penalty_share_gradient(self):
        return self.inner.penalty_share_gradient()

    def loss(self, X, y):
        return self.inner.loss(self.feature_map.transform(X), y)

    def gradients(self, X, y):
        return self.inner.gradients(self.feature_map.transform(X), y)

    def hvp(self, X, y, V, sample_weight=None):
        return self.inner.hvp(self.feature_map.transform(X), y, V, sample_weight)

    def hessian(self, X, y, sample_weight=None):
        return self.inner.hessian(self.feature_map.transform(X), y, sample_weight)

    def null_space(self):
        return self.inner.null_space()


@inherit_docstrings
@inject_docs
class GeneralizedLinearPipelineAdapter(PipelineAdapter, GeneralizedLinear):
    """Adapter of a Pipeline ending in a :class:`~skinfluence.models.GeneralizedLinear` model.

    Methods on mapped features (``outputs``, ``hessian_from_curvature``) and on outputs go to
    the final step's adapter unchanged; ``newton_factors`` maps raw rows first.

    Parameters
    ----------
    pipeline : Pipeline
        Fitted.
    inner : ModelAdapter
        The adapter of its final step, a :class:`~skinfluence.models.GeneralizedLinear` one.

    See Also
    --------
    PipelineAdapter : the general case; its :meth:`~PipelineAdapter.of` picks the class.
    GeneralizedLinear : the capability forwarded.

    Examples
    --------
    A Pipeline ending in Ridge keeps Ridge's capability (one output), on the raw diabetes
    features the scaler standardises:

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skinfluence.models import GeneralizedLinearPipelineAdapter, adapter_for
    >>> X, y = load_diabetes(return_X_y=True, scaled=False)
    >>> adapter = adapter_for(make_pipeline(StandardScaler(), Ridge()).fit(X, y))
    >>> isinstance(adapter, GeneralizedLinearPipelineAdapter), adapter.n_outputs
    (True, 1)
    """

    @property
    def output_link(self):
        """The output link of the final step: see ``ModelAdapter.output_link``."""
        return self.inner.output_link

    @property
    def n_outputs(self):
        return self.inner.n_outputs

    @property
    def n_features(self):
        return self.inner.n_features

    @property
    def fit_intercept(self):
        return self.inner.fit_intercept

    def outputs(self, Xf):
        return self.inner.outputs(Xf)

    def output_derivatives(self, eta, t):
        return self.inner.output_derivatives(eta, t)

    def output_gradients(self, eta, t):
        return self.inner.output_gradients(eta, t)

    def stacked_output_gradients(self, eta, t):
        return self.inner.stacked_output_gradients(eta, t)

    def loss_from_outputs(self, eta, y):
        return self.inner.loss_from_outputs(eta, y)

    def penalty_diagonal(self):
        return self.inner.penalty_diagonal()

    def penalty_share_diagonal(self):
        return self.inner.penalty_share_diagonal()

    def hessian_from_curvature(self, Xf, WS, share_weight=0.0):
        return self.inner.hessian_from_curvature(Xf, WS, share_weight)

    def newton_factors(self, X, y):
        return self.inner.newton_factors(self.feature_map.transform(X), y)


@inherit_docstrings
class _GaussNewtonPipelineAdapter(PipelineAdapter, GaussNewton):
    """A Pipeline whose final step has a Gauss–Newton matrix (e.g. a skorch net): its
    products on the mapped rows."""

    def ggn_vp(self, X, y, V, sample_weight=None):
        return self.inner.ggn_vp(self.feature_map.transform(X), y, V, sample_weight)

    def ggn_operator(self, X, y, sample_weight=None):
        return self.inner.ggn_operator(self.feature_map.transform(X), y, sample_weight)

    def ggn(self, X, y, sample_weight=None):
        return self.inner.ggn(self.feature_map.transform(X), y, sample_weight)


@inherit_docstrings
class _KroneckerPipelineAdapter(_GaussNewtonPipelineAdapter, KroneckerFactored):
    """The same, also forwarding the final step's Kronecker factors (K-FAC, EK-FAC)."""

    def kronecker_layers(self):
        return self.inner.kronecker_layers()

    def kronecker_samples(self, X, y, sample_weight=None, **kwargs):
        return self.inner.kronecker_samples(
            self.feature_map.transform(X), y, sample_weight, **kwargs
        )

    def penalty_hessian_diagonal(self, n_samples, sample_weight=None):
        return self.inner.penalty_hessian_diagonal(n_samples, sample_weight)
