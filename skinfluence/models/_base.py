"""The contract between a fitted model and the scorers: :class:`ModelAdapter`.

Every gradient-based scorer and inverse-Hessian solver talks to a model only through this
interface, so a new model family is one new adapter.

Objective convention (all adapters)
-----------------------------------
An adapter describes the *training objective in sum form*::

    J(θ) = Σ_i w_i ℓ(z_i; θ) + R(θ)

where ``ℓ`` is the per-sample loss the estimator minimises (unweighted), ``w_i`` the row's weight
in the objective (``sample_weight`` times ``class_weight``, 1 by default) and ``R`` the penalty.
Every estimator's objective can be rescaled to this form without moving its minimiser (e.g.
scikit-learn's ``LogisticRegression`` minimises ``C Σ w_i ℓ_i + ½‖W‖²``, i.e. ``R = ‖W‖²/(2C)``;
a torch net trained on the mean loss with weight decay ``wd`` has ``R = n·wd/2 ‖θ‖²``).
In this form removing row ``i`` subtracts ``w_i ℓ_i`` from ``J``, so one Newton step gives
``θ₋ᵢ − θ ≈ w_i H⁻¹ ∇ℓ_i`` with ``H = ∇²J``, and the first-order change of a test loss is
``w_i ∇ℓ(z_t)ᵀ H⁻¹ ∇ℓ_i`` — leave-one-out units, positive when row ``i`` helps ``z_t``.

The contract
------------
:class:`ModelAdapter` is what *every* family provides; the scorers and solvers use nothing else
unless they first check for a capability with ``isinstance``:

* **Required** (abstract): ``n_params``, ``params()``, ``with_params(theta)``,
  ``encode_target(y)``, ``loss(X, y)``, ``gradients(X, y)`` (a :class:`GradientMatrix`) and
  ``hvp(X, y, V, sample_weight)``.
* **Optional** (defaults that are correct for any family, overridden where a family can do
  better): ``features(X)`` (identity), ``row_weights(y, sample_weight)`` (the sample weights),
  ``hvp_operator`` (repeated :meth:`~ModelAdapter.hvp`), ``hessian`` (p products),
  ``null_space()`` (none).
* **Capability** :class:`GeneralizedLinear`: a family whose loss depends on θ only through the
  outputs ``η = x̃ W`` (K per row) declares it by subclassing; it enables the closed-form
  Newton-step correction (``InfluenceScorer(newton_step=True)``, ``_newton.py``) and the
  Newton leave-one-out refits (``LeaveOneOutScorer``, ``_loo_newton.py``). Callers test
  ``isinstance(adapter, GeneralizedLinear)``, never ``hasattr``.

Methods that take ``X`` take raw inputs (what the user's estimator accepts); methods that take
``Xf`` or ``eta`` take features already mapped by :meth:`ModelAdapter.features` or outputs.
A :class:`~skinfluence.models.PipelineAdapter` is a ``GeneralizedLinear`` exactly when its
final step's adapter is one: ``adapter_for`` builds the matching class, which forwards every
capability method explicitly (no attribute forwarding).

Families are registered with :func:`~skinfluence.models.register_adapter` (keyed by class, or by
``"module:qualname"`` for optional libraries), each with small fitted examples that the common
tests (``tests/models/test_adapter_common.py``) check the contract on.
"""

import functools
from abc import ABC, abstractmethod

import numpy as np
from sklearn.utils import gen_batches


class GradientMatrix(ABC):
    """Per-sample gradients ``G`` (n × p, row i = ∇θ ℓ(z_i; θ)) without materialising them.

    Subclasses provide the products the solvers need. ``dense_rows`` materialises a block of
    rows only when asked; callers keep blocks small (``iter_dense`` with a ``chunk_size``).
    """

    @property
    @abstractmethod
    def shape(self):
        """(n_samples, n_params)."""

    @abstractmethod
    def matmul(self, V):
        """``G @ V`` for V of shape (p, k); returns (n, k)."""

    @abstractmethod
    def rmatmul(self, U):
        """``Gᵀ @ U`` for U of shape (n, k); returns (p, k)."""

    @abstractmethod
    def dense_rows(self, rows):
        """Dense gradients of ``rows`` (a slice or index array); returns (len(rows), p)."""

    @abstractmethod
    def take(self, rows):
        """A GradientMatrix restricted to ``rows``."""

    def row_norms(self, chunk_size=1024):
        """Euclidean norm of every row, shape (n,)."""
        return np.sqrt(self.row_quadratic_form(None, chunk_size=chunk_size))

    def row_quadratic_form(self, A, chunk_size=1024):
        """``g_iᵀ A g_i`` for every row i (``A`` = None means the identity), shape (n,)."""
        out = np.empty(self.shape[0])
        for rows, block in self.iter_dense(chunk_size):
            out[rows] = np.einsum("ij,ij->i", block if A is None else block @ A, block)
        return out

    def iter_dense(self, chunk_size):
        """Yield ``(slice, dense block)`` pairs covering all rows, ``chunk_size`` at a time."""
        for rows in gen_batches(self.shape[0], chunk_size):
            yield rows, self.dense_rows(rows)

    def __len__(self):
        return self.shape[0]


class ModelAdapter(ABC):
    """What every gradient-based scorer needs from a *fitted* model.

    Obtain one with :func:`skinfluence.models.adapter_for`. Methods take raw inputs ``X``
    (what the user's estimator accepts); the adapter applies its own feature map (e.g. the
    earlier steps of a Pipeline) through :meth:`features`.

    See the module docstring for what is required, what is optional and the
    :class:`GeneralizedLinear` capability.

    Attributes
    ----------
    estimator : object
        The fitted estimator (not copied; adapters never modify it).
    n_params : int
        Length of the flat parameter vector θ.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    # -- parameters and data -------------------------------------------------------------
    @property
    @abstractmethod
    def n_params(self):
        """Length of θ."""

    @abstractmethod
    def params(self):
        """θ as a flat float64 vector (a copy)."""

    @abstractmethod
    def with_params(self, theta):
        """An adapter of the same model at parameters ``theta`` (in :meth:`params`' layout).

        The original estimator is not modified; its ``estimator`` is a fitted model at
        ``theta`` where the family can build one (the Newton leave-one-out refits return it).
        Used by line searches, Newton refits and the finite-difference checks of the tests.
        """

    def features(self, X):
        """Map raw ``X`` to what the adapted model consumes (identity by default)."""
        return X

    @abstractmethod
    def encode_target(self, y):
        """Map user labels to the internal target representation; unknown labels → ValueError."""

    def row_weights(self, y, sample_weight=None):
        """Weights ``w_i`` of the rows in the training objective (sample × class weight)."""
        n = len(y)
        return np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)

    # -- loss, gradients, curvature --------------------------------------------------------
    @abstractmethod
    def loss(self, X, y):
        """Per-sample loss ℓ(z_i; θ) (unweighted), shape (n,)."""

    @abstractmethod
    def gradients(self, X, y):
        """Per-sample loss gradients as a :class:`GradientMatrix` of shape (n, n_params)."""

    @abstractmethod
    def hvp(self, X, y, V, sample_weight=None):
        """``H @ V`` with H the Hessian of the training objective J on (X, y); V is (p, k)."""

    def hvp_operator(self, X, y, sample_weight=None):
        """``V ↦ H @ V`` on fixed rows, for solvers that multiply many times (CG, Lanczos,
        full-batch LiSSA). Default: :meth:`hvp` per call; adapters that can reuse work across
        products on the same rows override it (the torch adapter caches the primal pass)."""
        return functools.partial(self.hvp, X, y, sample_weight=sample_weight)

    def hessian(self, X, y, sample_weight=None):
        """Dense Hessian of J, shape (p, p). Default: p Hessian-vector products."""
        return self.hvp(X, y, np.eye(self.n_params), sample_weight=sample_weight)

    def null_space(self):
        """Orthonormal basis (p, r) of exact flat directions of J, or None.

        Per-sample gradients are orthogonal to these directions; solvers add ``B Bᵀ`` to H
        so that the solve is exact on the complement instead of hiding the flat direction
        behind damping (e.g. multinomial logistic regression with an intercept).
        """
        return None

    def astype(self, dtype):
        """A copy of the adapter whose products are computed in ``dtype``.

        Optional: families that can compute in float32 (torch nets) override it; the default
        computes in float64 only.

        Parameters
        ----------
        dtype : numpy dtype or str
            ``float64``, or ``float32`` where the family supports it.

        Returns
        -------
        adapter : ModelAdapter
            ``self`` for float64.

        Raises
        ------
        NotImplementedError
            The family computes in float64 only.
        """
        if np.dtype(dtype) == np.float64:
            return self
        raise NotImplementedError(f"{type(self).__name__} computes in float64 only.")


class GeneralizedLinear(ABC):
    """Capability: the loss depends on θ only through K outputs per row, ``η_i = x̃_iᵀ W``.

    θ is the (d, K) matrix ``W`` flattened row-major, ``d = n_features (+1 with an
    intercept)``, ``x̃_i = [Xf_i, 1]``. Then ``∇ℓ_i = x̃_i ⊗ r_i`` and ``∇²ℓ_i = x̃_i x̃_iᵀ ⊗ S_i``
    with ``r_i = ∂ℓ/∂η_i`` (K) and ``S_i = ∂²ℓ/∂η_i²`` (K × K); the penalty R is quadratic and
    diagonal. A :class:`ModelAdapter` declares the capability by also subclassing this class
    (``class MyGLMAdapter(ModelAdapter, GeneralizedLinear)``); the Newton-step influence and the
    Newton leave-one-out refits accept exactly the adapters for which
    ``isinstance(adapter, GeneralizedLinear)`` holds.
    """

    @property
    @abstractmethod
    def n_outputs(self):
        """K, the number of outputs η per row."""

    @property
    @abstractmethod
    def n_features(self):
        """Number of mapped features (columns of ``features(X)``), intercept excluded."""

    @property
    @abstractmethod
    def fit_intercept(self):
        """Whether θ ends with a row of K intercepts."""

    @abstractmethod
    def outputs(self, Xf):
        """η, shape (n, K), for mapped features ``Xf``."""

    @abstractmethod
    def output_derivatives(self, eta, t):
        """``(R, S)``: ∂ℓ/∂η (n, K) and ∂²ℓ/∂η² (n, K, K) at outputs η, encoded targets t."""

    def output_gradients(self, eta, t):
        """∂ℓ/∂η (n, K) only (default: from :meth:`output_derivatives`)."""
        return self.output_derivatives(eta, t)[0]

    @abstractmethod
    def loss_from_outputs(self, eta, y):
        """Per-sample loss at given outputs η (n, K) for user labels ``y``."""

    @abstractmethod
    def penalty_diagonal(self):
        """Diagonal of ∇²R (the penalty's Hessian) in θ's layout, shape (p,)."""

    @abstractmethod
    def hessian_from_curvature(self, Xf, WS):
        """``Σ_i (x̃_i x̃_iᵀ ⊗ WS_i) + ∇²R`` for mapped features and weighted curvature (n, K, K)."""

    def newton_factors(self, X, y):
        """``(R, S)`` of :meth:`output_derivatives` at the fitted outputs of raw rows (X, y)."""
        return self.output_derivatives(self.outputs(self.features(X)), self.encode_target(y))
