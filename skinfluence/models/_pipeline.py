"""Adapter for a ``Pipeline``: the earlier steps are a fixed feature map."""

from ._base import ModelAdapter


class PipelineAdapter(ModelAdapter):
    """Influence w.r.t. the last step's parameters, on the features the earlier steps produce.

    The transformers are treated as fixed (not refitted when a row is left out), which is what
    first-order influence of the final model measures.
    """

    def __init__(self, pipeline, inner):
        super().__init__(pipeline)
        self.inner = inner
        self.feature_map = pipeline[:-1]
        self.supports_newton_step = inner.supports_newton_step
        self.has_exact_hessian = inner.has_exact_hessian

    def __getattr__(self, name):  # classes_, n_outputs, ... of the final step
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def n_params(self):
        return self.inner.n_params

    def params(self):
        return self.inner.params()

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

    def newton_factors(self, X, y):
        return self.inner.newton_factors(self.feature_map.transform(X), y)
