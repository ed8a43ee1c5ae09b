"""The curvature a scorer solves with: the exact Hessian or the Gauss–Newton matrix.

Curvature is a choice of the scorer, not of the family: :func:`with_curvature` returns an
adapter whose ``hvp`` / ``hvp_operator`` / ``hessian`` are those of the chosen curvature, so
every solver (``direct``, ``cg``, ``lissa``, ``arnoldi``, ...) works on either unchanged.
"""

from .._utils._docstring import inherit_docstrings
from ._base import GaussNewton, GeneralizedLinear, ModelAdapter

__all__ = ["HESSIAN_OPTIONS", "GaussNewtonView", "resolve_curvature", "with_curvature"]

#: The values of ``InfluenceScorer(hessian=...)``.
HESSIAN_OPTIONS = ("auto", "exact", "gauss-newton")


def resolve_curvature(adapter, hessian):
    """``"exact"`` or ``"gauss-newton"``: what ``hessian`` means for ``adapter``.

    ``"auto"`` is the exact Hessian for models linear in θ through their outputs
    (:class:`~skinfluence.models.GeneralizedLinear`: convex, and the two coincide there) and
    for families without a Gauss–Newton matrix, the Gauss–Newton matrix for every other
    :class:`~skinfluence.models.GaussNewton` family (nets, whose Hessian is indefinite away
    from a minimum).

    Parameters
    ----------
    adapter : ModelAdapter
        The fitted model's adapter.
    hessian : {"auto", "exact", "gauss-newton"}
        The choice.

    Returns
    -------
    curvature : {"exact", "gauss-newton"}
        The curvature the solvers will use.

    Raises
    ------
    ValueError
        ``hessian`` is not one of the options.
    TypeError
        ``"gauss-newton"`` for a family that has no Gauss–Newton matrix.

    See Also
    --------
    with_curvature : the adapter of the chosen curvature.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import adapter_for, resolve_curvature
    >>> X, y = load_iris(return_X_y=True)
    >>> resolve_curvature(adapter_for(LogisticRegression(max_iter=500).fit(X, y)), "auto")
    'exact'
    """
    if hessian not in HESSIAN_OPTIONS:
        raise ValueError(f"hessian must be one of {list(HESSIAN_OPTIONS)}; got {hessian!r}.")
    if hessian == "auto":
        gauss_newton = isinstance(adapter, GaussNewton) and not isinstance(
            adapter, GeneralizedLinear
        )
        return "gauss-newton" if gauss_newton else "exact"
    if hessian == "gauss-newton" and not isinstance(adapter, GaussNewton):
        raise TypeError(
            f"hessian='gauss-newton' needs a model family with a Gauss–Newton matrix; "
            f"{type(adapter).__name__} has none. Use hessian='exact'."
        )
    return hessian


def with_curvature(adapter, hessian):
    """Return an adapter whose Hessian products are those of the chosen curvature.

    Parameters
    ----------
    adapter : ModelAdapter
        The fitted model's adapter.
    hessian : {"auto", "exact", "gauss-newton"}
        As :func:`resolve_curvature`.

    Returns
    -------
    adapter : ModelAdapter
        ``adapter`` itself for the exact Hessian and for a
        :class:`~skinfluence.models.GeneralizedLinear` (whose Gauss–Newton matrix is its
        Hessian), else a :class:`GaussNewtonView` of it.

    See Also
    --------
    resolve_curvature : what ``hessian`` means for a model.
    GaussNewton : the capability it needs for "gauss-newton".

    Examples
    --------
    A torch net's Gauss–Newton matrix is positive semi-definite:

    >>> import numpy as np, torch
    >>> from skinfluence.models import TorchModule, adapter_for, with_curvature
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> model = TorchModule(net, torch.nn.CrossEntropyLoss(), classes=[0, 1])
    >>> X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    >>> G = with_curvature(adapter_for(model), "gauss-newton").hessian(X, y)
    >>> bool(np.linalg.eigvalsh(G).min() > -1e-10)
    True
    """
    curvature = resolve_curvature(adapter, hessian)
    if curvature == "exact" or isinstance(adapter, GeneralizedLinear):
        return adapter
    return GaussNewtonView(adapter)


@inherit_docstrings
class GaussNewtonView(ModelAdapter):
    """An adapter whose Hessian is the Gauss–Newton matrix of another one.

    ``hvp``, ``hvp_operator`` and ``hessian`` are the wrapped adapter's ``ggn_vp``,
    ``ggn_operator`` and ``ggn``; everything else is forwarded unchanged. Build it with
    :func:`with_curvature`.

    Parameters
    ----------
    adapter : GaussNewton
        The adapter whose Gauss–Newton matrix is used.

    Attributes
    ----------
    adapter : GaussNewton
        The wrapped adapter.

    See Also
    --------
    with_curvature : builds it.
    GaussNewton : the capability it reads.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import GaussNewtonView, TorchModule, adapter_for
    >>> model = TorchModule(torch.nn.Linear(3, 2), torch.nn.CrossEntropyLoss(), classes=[0, 1])
    >>> GaussNewtonView(adapter_for(model)).n_params
    8
    """

    def __init__(self, adapter):
        super().__init__(adapter.estimator)
        self.adapter = adapter

    @property
    def n_params(self):
        return self.adapter.n_params

    def params(self):
        return self.adapter.params()

    def with_params(self, theta):
        return GaussNewtonView(self.adapter.with_params(theta))

    def features(self, X):
        return self.adapter.features(X)

    def encode_target(self, y):
        return self.adapter.encode_target(y)

    def row_weights(self, y, sample_weight=None):
        return self.adapter.row_weights(y, sample_weight)

    def loss(self, X, y):
        return self.adapter.loss(X, y)

    def gradients(self, X, y):
        return self.adapter.gradients(X, y)

    def hvp(self, X, y, V, sample_weight=None):
        return self.adapter.ggn_vp(X, y, V, sample_weight=sample_weight)

    def hvp_operator(self, X, y, sample_weight=None):
        return self.adapter.ggn_operator(X, y, sample_weight=sample_weight)

    def hessian(self, X, y, sample_weight=None):
        return self.adapter.ggn(X, y, sample_weight=sample_weight)

    def null_space(self):
        return self.adapter.null_space()

    def astype(self, dtype):
        converted = self.adapter.astype(dtype)
        return self if converted is self.adapter else GaussNewtonView(converted)
