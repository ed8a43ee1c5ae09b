"""Adapter for a ``Pipeline``: the earlier steps are a fixed feature map."""

import copy

from ._base import GeneralizedLinear, ModelAdapter


class PipelineAdapter(ModelAdapter):
    """Influence w.r.t. the last step's parameters, on the features the earlier steps produce.

    The transformers are treated as fixed (not refitted when a row is left out), which is what
    first-order influence of the final model measures. Build it with :meth:`of`, which returns
    a :class:`GeneralizedLinearPipelineAdapter` when the final step's adapter is
    :class:`~skinfluence.models.GeneralizedLinear`.

    Attributes
    ----------
    inner : ModelAdapter
        The adapter of the final step.
    feature_map : Pipeline
        The earlier steps (fitted).
    """

    def __init__(self, pipeline, inner):
        super().__init__(pipeline)
        self.inner = inner
        self.feature_map = pipeline[:-1]

    @classmethod
    def of(cls, pipeline, inner):
        """The adapter of ``pipeline`` whose final step has adapter ``inner``, with the
        final step's capabilities."""
        if isinstance(inner, GeneralizedLinear):
            return GeneralizedLinearPipelineAdapter(pipeline, inner)
        return PipelineAdapter(pipeline, inner)

    def astype(self, dtype):
        """The pipeline's adapter with its final step computing in ``dtype``."""
        return PipelineAdapter.of(self.estimator, self.inner.astype(dtype))

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


class GeneralizedLinearPipelineAdapter(PipelineAdapter, GeneralizedLinear):
    """A Pipeline ending in a :class:`~skinfluence.models.GeneralizedLinear` model.

    Methods on mapped features (``outputs``, ``hessian_from_curvature``) and on outputs go to
    the final step's adapter unchanged; ``newton_factors`` maps raw rows first.
    """

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

    def loss_from_outputs(self, eta, y):
        return self.inner.loss_from_outputs(eta, y)

    def penalty_diagonal(self):
        return self.inner.penalty_diagonal()

    def hessian_from_curvature(self, Xf, WS):
        return self.inner.hessian_from_curvature(Xf, WS)

    def newton_factors(self, X, y):
        return self.inner.newton_factors(self.feature_map.transform(X), y)
