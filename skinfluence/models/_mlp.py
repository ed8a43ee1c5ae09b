"""Adapter for scikit-learn's own nets, ``MLPClassifier`` and ``MLPRegressor``.

Parameters: θ is scikit-learn's own packing (``_pack``): every ``coefs_[l]`` raveled
(row-major, shape (i_l, o_l)), then every ``intercepts_[l]``.

Objective. scikit-learn's ``_backprop`` returns, on a batch B with weights w,
``(Σ_{i∈B} w_i ℓ_i + α/2 ‖W‖²) / Σ_{i∈B} w_i`` (the coefficients penalised, the intercepts not)
and its gradient. With ``solver="lbfgs"`` the batch is every row, so the minimised objective
in the sum form of :mod:`skinfluence.models._base` is ``J(θ) = Σ_i w_i ℓ_i + α/2 ‖W‖²``: the
penalty is fixed, and removing a row removes its loss term only. ``sgd`` and ``adam`` apply the
penalty once per minibatch of ``B`` rows, i.e. ``q = α/(2B) ‖W‖²`` per row: the penalty is
shared between the rows ("Penalty shares" in :mod:`skinfluence.models._base`), the stationary
point these solvers aim at is that of ``Σ_i w_i ℓ_i + Σ_i c_i q`` (about ``n/B`` times the
batch penalty), and removing a row removes its share too. They rarely reach that point.
(Each batch is normalised by its weight sum, which makes the share one per row whatever its
weight; ``c_i`` is the row's weight, the contract's default, which keeps LiSSA's reweighted
minibatches right: the two agree for unweighted fits and differ by the mean weight otherwise.)

The per-sample loss ℓ is the one whose gradient ``_backprop`` follows, ``∂ℓ/∂z = out(z) − t``
at the last pre-activation z: the log-loss of ``predict_proba`` for classifiers (summed over
the labels of a multilabel net), half the squared error summed over the targets for
``loss="squared_error"`` and half the Poisson deviance for ``loss="poisson"``. (For several
targets scikit-learn's reported ``loss_`` averages the squared error over them, but its
gradient is that of the sum, so the fitted net is a stationary point of the sum.)

Gradients and Hessian-vector products are computed by :mod:`._mlp_math` (numpy, the exact
R-operator) or by ``torch.func`` on an equivalent torch module
(:mod:`skinfluence.torch._sklearn_mlp`); both agree to rounding.
"""

import copy
import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import gen_batches
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from .._utils._docstring import inherit_docstrings, inject_docs
from .._utils._labels import encode_labels
from ..exceptions import ApproximationWarning
from . import _mlp_math
from ._base import GradientMatrix, ModelAdapter
from ._mlp_examples import mlp_classifier_example, mlp_regressor_example, targets_averaged
from ._registry import register_adapter

__all__ = ["MLPAdapter", "MLPGradientMatrix"]

#: Floats of the (directions × rows × units) arrays of one block of Hessian-vector products
#: or gradient products (32 MiB): row and direction chunks are sized from it.
_BLOCK_FLOATS = 2**22
_BACKENDS = ("auto", "numpy", "torch")
_STOCHASTIC = ("sgd", "adam")


class _Layout:
    """Where each layer's coefficients and intercepts sit in θ (scikit-learn's packing)."""

    def __init__(self, shapes):
        self.shapes = [tuple(s) for s in shapes]
        sizes = [i * o for i, o in self.shapes] + [o for _, o in self.shapes]
        ends = np.cumsum(sizes)
        self.slices = [slice(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]
        self.n_params = int(ends[-1])
        self.n_coefs = int(sum(i * o for i, o in self.shapes))

    @property
    def n_layers(self):
        return len(self.shapes)

    def coef_slice(self, layer):
        return self.slices[layer]

    def intercept_slice(self, layer):
        return self.slices[self.n_layers + layer]

    def unpack(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        coefs = [theta[self.coef_slice(j)].reshape(s) for j, s in enumerate(self.shapes)]
        intercepts = [theta[self.intercept_slice(j)] for j in range(self.n_layers)]
        return coefs, intercepts

    def split_directions(self, V):
        """V (p, k) -> weight parts (k, i, o) and intercept parts (k, o) per layer."""
        k = V.shape[1]
        dW = [V[self.coef_slice(j)].T.reshape(k, i, o) for j, (i, o) in enumerate(self.shapes)]
        db = [V[self.intercept_slice(j)].T for j in range(self.n_layers)]
        return dW, db

    def join(self, HW, Hb):
        k = Hb[0].shape[0]
        return np.concatenate([h.reshape(k, -1) for h in HW] + list(Hb), axis=1).T

    def max_units(self):
        return max(max(i, o) for i, o in self.shapes)

    def total_units(self):
        return sum(i + o for i, o in self.shapes)


@inherit_docstrings
@inject_docs
class MLPGradientMatrix(GradientMatrix):
    """Per-sample gradients of a scikit-learn MLP, kept as layer inputs and deltas.

    Row i of layer l's block is ``a_{l,i} ⊗ δ_{l,i}`` for the weights and ``δ_{l,i}`` for the
    intercepts (``a_l`` the layer's input, ``δ_l = ∂ℓ/∂z_l``), in scikit-learn's packing of θ.
    Products cost O(n Σ_l i_l o_l · k) time (a GEMM per layer) and O(n Σ_l o_l · k) memory in
    blocks; no n × p array is formed unless :meth:`dense_rows` is asked for one.

    Parameters
    ----------
    inputs : list of {ndarray, sparse matrix}
        ``a_l`` of shape (n, i_l); ``a_0`` is X.
    deltas : list of ndarray
        ``δ_l`` of shape (n, o_l).

    See Also
    --------
    MLPAdapter : whose ``gradients`` return this (with the numpy backend).
    GradientMatrix : the interface.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import MLPGradientMatrix
    >>> G = MLPGradientMatrix([np.array([[1.0, 2.0]])], [np.array([[0.5]])])
    >>> G.dense_rows(slice(None))  # w = x ⊗ δ, then b = δ
    array([[0.5, 1. , 0.5]])
    """

    def __init__(self, inputs, deltas):
        self.inputs = inputs
        self.deltas = deltas
        shapes = [(a.shape[1], d.shape[1]) for a, d in zip(inputs, deltas, strict=True)]
        self._layout = _Layout(shapes)

    @property
    def shape(self):
        return (self.deltas[0].shape[0], self._layout.n_params)

    def _column_chunks(self, k):
        n = max(1, self.shape[0])
        step = max(1, _BLOCK_FLOATS // (n * self._layout.max_units()))
        return gen_batches(k, step)

    def matmul(self, V):
        V = np.asarray(V, dtype=np.float64).reshape(self.shape[1], -1)
        out = np.zeros((self.shape[0], V.shape[1]))
        layout = self._layout
        for cols in self._column_chunks(V.shape[1]):
            for layer, (a, d) in enumerate(zip(self.inputs, self.deltas, strict=True)):
                i, o = layout.shapes[layer]
                Vw = V[layout.coef_slice(layer), cols].reshape(i, -1)
                P = np.asarray(safe_sparse_dot(a, Vw)).reshape(len(d), o, -1)
                out[:, cols] += np.einsum("nok,no->nk", P, d)
                out[:, cols] += d @ V[layout.intercept_slice(layer), cols]
        return out

    def rmatmul(self, U):
        U = np.asarray(U, dtype=np.float64).reshape(self.shape[0], -1)
        out = np.empty((self.shape[1], U.shape[1]))
        layout = self._layout
        for cols in self._column_chunks(U.shape[1]):
            Uc = U[:, cols]
            for layer, (a, d) in enumerate(zip(self.inputs, self.deltas, strict=True)):
                T = (d[:, :, None] * Uc[:, None, :]).reshape(len(d), -1)
                W = np.asarray(safe_sparse_dot(a.T, T))
                out[layout.coef_slice(layer), cols] = W.reshape(-1, Uc.shape[1])
                out[layout.intercept_slice(layer), cols] = d.T @ Uc
        return out

    def dense_rows(self, rows):
        blocks = []
        for a, d in zip(self.inputs, self.deltas, strict=True):
            ar = a[rows]
            ar = ar.toarray() if sp.issparse(ar) else np.asarray(ar)
            blocks.append((ar[:, :, None] * d[rows][:, None, :]).reshape(len(ar), -1))
        blocks += [d[rows] for d in self.deltas]
        return np.concatenate(blocks, axis=1)

    def take(self, rows):
        return MLPGradientMatrix([a[rows] for a in self.inputs], [d[rows] for d in self.deltas])


class _HessianOperator:
    """``V ↦ H V`` on fixed rows with the forward and backward passes computed once."""

    def __init__(self, adapter, X, y, sample_weight):
        self.adapter = adapter
        Xf, t = adapter.features(X), adapter.encode_target(y)
        w = adapter.row_weights(y, sample_weight)
        self.penalty = adapter._penalty_on_rows(y, sample_weight)
        rows = max(1, _BLOCK_FLOATS // adapter._layout.total_units())
        self.blocks = [(adapter._primal(Xf[s], t[s]), w[s]) for s in gen_batches(Xf.shape[0], rows)]

    def __call__(self, V):
        adapter = self.adapter
        V = np.asarray(V, dtype=np.float64)
        Vc = V.reshape(adapter.n_params, -1)
        out = self.penalty[:, None] * Vc
        for state, w in self.blocks:
            n = len(w)
            step = max(1, _BLOCK_FLOATS // (max(1, n) * adapter._layout.total_units()))
            for cols in gen_batches(Vc.shape[1], step):
                dW, db = adapter._layout.split_directions(Vc[:, cols])
                HW, Hb = _mlp_math.hessian_products(adapter._coefs, adapter._kind, state, w, dW, db)
                out[:, cols] += adapter._layout.join(HW, Hb)
        return out.reshape(V.shape)


@inherit_docstrings
@inject_docs
class MLPAdapter(ModelAdapter):
    """Adapter of a fitted ``MLPClassifier`` or ``MLPRegressor``: exact gradients and HVPs.

    Every output scikit-learn builds is covered: binary (one logistic output), multiclass
    (softmax), multilabel (independent logistic outputs) classifiers, and regressors with one
    or several targets, ``loss="squared_error"`` (identity output) or ``loss="poisson"`` (exp
    output); every hidden ``activation`` (``identity``, ``logistic``, ``tanh``, ``relu``),
    dense or sparse X, ``sample_weight``. The objective (module :mod:`skinfluence.models._mlp`)
    is ``Σ_i w_i ℓ_i + α/2 ‖W‖²`` for ``solver="lbfgs"``, the intercepts unpenalised; for
    ``sgd``/``adam`` every row carries a share ``α/(2B) ‖W‖²`` of the penalty (B the batch
    size, :meth:`penalty_share_diagonal`). The net is only read, never refitted.

    A net's Hessian is indefinite away from a minimum, and scikit-learn's L-BFGS stops on a
    small relative decrease of the loss (scipy's ``ftol``, not exposed), often before one: the
    solvers' warnings (``IllConditionedHessianWarning`` with a suggested ``damping``) apply as
    for torch nets (the measurements are in the User Guide).

    Read more in the :ref:`User Guide <sklearn_nets>`.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Fitted; never modified.
    backend : {"auto", "numpy", "torch"}, default="auto"
        How gradients and Hessian-vector products are computed: ``"numpy"`` by the closed-form
        backward pass and Pearlmutter's exact R-operator (:mod:`skinfluence.models._mlp_math`),
        ``"torch"`` through ``torch.func`` on an equivalent module
        (:class:`~skinfluence.models.TorchAdapter`). ``"auto"`` takes numpy, which on CPU is
        the faster of the two on scikit-learn-sized nets (measured in benchmarks/README.md);
        both agree to rounding.

    Attributes
    ----------
    penalty_kind : {"fixed", "shared"}
        ``"fixed"`` for ``lbfgs`` (one ``α/2 ‖W‖²``), ``"shared"`` for the minibatch solvers.
    batch_size : int or None
        The minibatch size B the penalty is shared over (``"auto"``: min(200, n)); None for
        ``lbfgs``.

    See Also
    --------
    adapter_for : builds this adapter for a fitted MLP (with ``backend="auto"``).
    TorchAdapter : the torch backend's adapter (for skorch nets and bare torch modules).

    Notes
    -----
    Cost with n rows and p parameters (a net with layers of i_l inputs and o_l outputs):
    per-sample gradients and each gradient product O(n p); a Hessian-vector product O(n p)
    (about twice a gradient); memory O(n Σ_l o_l) for the layer activations kept by the
    gradients and by ``hvp_operator``. ``relu``'s second derivative is 0 almost everywhere,
    so its Hessian is exact except on the measure-zero set where a unit sits at z = 0.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> X = scale(X)
    >>> net = MLPClassifier((5,), solver="lbfgs", random_state=0, max_iter=2000).fit(X, y)
    >>> adapter = adapter_for(net)
    >>> adapter.n_params, adapter.gradients(X, y).shape  # (4·5 + 5·3) weights + (5 + 3)
    (43, (150, 43))
    """

    def __init__(self, estimator, *, backend="auto"):
        check_is_fitted(estimator, "coefs_")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}; got {backend!r}.")
        super().__init__(estimator)
        self.backend = "numpy" if backend == "auto" else backend
        if estimator.activation not in _mlp_math.HIDDEN_ACTIVATIONS:
            raise ValueError(f"Unknown activation {estimator.activation!r}.")
        self._kind = estimator.out_activation_
        self._coefs = [np.asarray(c, dtype=np.float64) for c in estimator.coefs_]
        self._intercepts = [np.asarray(b, dtype=np.float64) for b in estimator.intercepts_]
        self._layout = _Layout([c.shape for c in self._coefs])
        self._is_classifier = isinstance(estimator, MLPClassifier)
        binarizer = getattr(estimator, "_label_binarizer", None)
        self._multilabel = self._is_classifier and binarizer.y_type_ == "multilabel-indicator"
        self.alpha = float(estimator.alpha)
        if estimator.solver in _STOCHASTIC:
            self.penalty_kind = "shared"
            _, self.batch_size = _rows_and_batch_size(estimator)
        else:
            self.penalty_kind, self.batch_size = "fixed", None
        if getattr(estimator, "early_stopping", False) and estimator.solver in _STOCHASTIC:
            warnings.warn(
                "The net was fitted with early_stopping=True: scikit-learn held out a "
                f"validation_fraction={estimator.validation_fraction} of the rows and kept "
                "the weights of the best validation score, so the rows passed to the scorer "
                "are not exactly the objective's and the weights are not its stationary point; "
                "influence is approximate.",
                ApproximationWarning,
                stacklevel=3,
            )
        if estimator.solver == "lbfgs" and targets_averaged(estimator):
            warnings.warn(
                "scikit-learn's L-BFGS fit of a regressor with several targets line-searches "
                "the squared error averaged over the targets while stepping along the gradient "
                "of their sum (scikit-learn#8349), so it stops short of a stationary point; "
                "influence is that of the summed objective, whose gradient the fit follows. "
                "Fit one target at a time, or use solver='adam', for a consistent objective.",
                ApproximationWarning,
                stacklevel=3,
            )
        self._torch = None
        if self.backend == "torch":
            from ..torch._sklearn_mlp import sklearn_mlp_torch_adapter

            self._torch = sklearn_mlp_torch_adapter(self)

    # -- parameters ----------------------------------------------------------------------
    @property
    def n_params(self):
        return self._layout.n_params

    def params(self):
        return np.concatenate([c.ravel() for c in self._coefs] + list(self._intercepts))

    def with_params(self, theta):
        """Return an adapter of a copy of the net at other parameters.

        The copy's ``coefs_`` and ``intercepts_`` are ``theta`` (in the estimator's dtype);
        the estimator itself is not modified.

        %(adapter_params_theta)s

        Returns
        -------
        adapter : MLPAdapter
            With the same backend, around the copy.
        """
        est = copy.copy(self.estimator)
        coefs, intercepts = self._layout.unpack(theta)
        dtype = self.estimator.coefs_[0].dtype
        est.coefs_ = [c.astype(dtype) for c in coefs]
        est.intercepts_ = [b.astype(dtype) for b in intercepts]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ApproximationWarning)  # said once, for self
            return type(self)(est, backend=self.backend)

    def astype(self, dtype):
        """A copy of the adapter whose products are computed in ``dtype``.

        float32 needs ``backend="torch"`` (the numpy backend computes in float64 only).

        Parameters
        ----------
        dtype : numpy dtype or str
            ``float64``, or ``float32`` with the torch backend.

        Returns
        -------
        adapter : MLPAdapter
            ``self`` for float64.
        """
        if np.dtype(dtype) == np.float64:
            return self
        if self._torch is None:
            raise NotImplementedError(
                "The numpy backend of MLPAdapter computes in float64 only; use "
                "MLPAdapter(net, backend='torch') for float32 products."
            )
        new = copy.copy(self)
        new._torch = self._torch.astype(dtype)
        return new

    # -- the penalty ----------------------------------------------------------------------
    def _coefficient_mask(self, value):
        diag = np.zeros(self.n_params)
        diag[: self._layout.n_coefs] = value
        return diag

    def penalty_diagonal(self):
        """Return the diagonal of ∇²R₀, the fixed penalty's Hessian.

        Returns
        -------
        diagonal : ndarray of shape (n_params,)
            α on the coefficients, 0 on the intercepts, for ``lbfgs``; 0 for ``sgd``/``adam``,
            whose penalty is all in the rows' shares (:meth:`penalty_share_diagonal`).
        """
        return self._coefficient_mask(self.alpha if self.penalty_kind == "fixed" else 0.0)

    def penalty_share_diagonal(self):
        """Return the diagonal of ∇²q, each row's share of the penalty of a minibatch fit.

        ``sgd`` and ``adam`` add ``α/2 ‖W‖²`` to the mean loss of every batch of B rows, so
        each row carries ``q = α/(2B) ‖W‖²`` and leaving it out removes that share too (see
        "Penalty shares" in :mod:`skinfluence.models._base`).

        Returns
        -------
        diagonal : ndarray of shape (n_params,) or None
            ``α/B`` on the coefficients, 0 on the intercepts; None for ``lbfgs``, whose
            penalty does not depend on the rows.
        """
        if self.penalty_kind == "fixed":
            return None
        return self._coefficient_mask(self.alpha / self.batch_size)

    def penalty_share_gradient(self):
        diag = self.penalty_share_diagonal()
        return None if diag is None else diag * self.params()

    def _penalty_on_rows(self, y, sample_weight):
        """Diagonal of ∇²R on the rows (y, sample_weight): ∇²R₀ + (Σ_i c_i) ∇²q."""
        share = self.penalty_share_diagonal()
        if share is None:
            return self.penalty_diagonal()
        return self.penalty_diagonal() + np.sum(self.penalty_shares(y, sample_weight)) * share

    # -- data ----------------------------------------------------------------------------
    def features(self, X):
        if sp.issparse(X):
            X = X.astype(np.float64, copy=False).tocsr()
        else:
            X = np.asarray(X, dtype=np.float64)
        n_features = self._layout.shapes[0][0]
        if X.ndim != 2 or X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but "
                f"{type(self.estimator).__name__} was fitted with {n_features}."
            )
        return X

    def encode_target(self, y):
        """Map labels or targets to the net's output coding: t of shape (n, K), float.

        One-hot class indicators (one column of 0/1 for a binary net), the label indicator
        matrix of a multilabel net, or the targets of a regressor.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Labels (classifiers) or targets (regressors).

        Returns
        -------
        t : ndarray of shape (n_samples, K)

        Raises
        ------
        ValueError
            A label the net does not know, or the wrong number of targets or labels.
        """
        K = self._layout.shapes[-1][1]
        y = np.asarray(y)
        if self._is_classifier and not self._multilabel:
            idx = encode_labels(self.estimator.classes_, y.ravel() if y.ndim == 2 else y)
            if K == 1:
                return idx.astype(np.float64)[:, None]
            return np.eye(K)[idx]
        t = y.astype(np.float64).reshape(len(y), -1)
        what = "label columns" if self._multilabel else "targets"
        if t.shape[1] != K:
            raise ValueError(
                f"y has {t.shape[1]} {what}, but {type(self.estimator).__name__} was fitted "
                f"with {K}."
            )
        if self._multilabel and not np.isin(t, (0.0, 1.0)).all():
            raise ValueError("A multilabel net's y must be a 0/1 label indicator matrix.")
        return t

    def _primal(self, Xf, t, *, curvature=True):
        return _mlp_math.primal(
            self._coefs,
            self._intercepts,
            self.estimator.activation,
            self._kind,
            Xf,
            t,
            curvature=curvature,
        )

    @property
    def output_link(self):
        """The output link of ``out_activation_``: see ``ModelAdapter.output_link``."""
        from ._targets import mlp_output_link

        return mlp_output_link(self)

    # -- loss, gradients, curvature ------------------------------------------------------
    def loss(self, X, y):
        Xf, t = self.features(X), self.encode_target(y)
        if self._torch is not None:
            return self._torch.loss(Xf, t)
        _, z = _mlp_math.forward(self._coefs, self._intercepts, self.estimator.activation, Xf)
        return _mlp_math.output_loss(self._kind, z, t)

    def gradients(self, X, y):
        Xf, t = self.features(X), self.encode_target(y)
        if self._torch is not None:
            return self._torch.gradients(Xf, t)
        state = self._primal(Xf, t, curvature=False)
        return MLPGradientMatrix(state.inputs, state.deltas)

    def hvp(self, X, y, V, sample_weight=None):
        """Multiply by the Hessian of J, exactly (R-operator or ``torch.func``).

        %(adapter_params_X_y_V_sample_weight)s

        Returns
        -------
        HV : ndarray of the shape of V
            ``(Σ_i w_i ∇²ℓ_i + ∇²R) V``: O(n p k) time, in blocks of rows and columns.
        """
        return self.hvp_operator(X, y, sample_weight)(V)

    def hvp_operator(self, X, y, sample_weight=None):
        """Return ``V ↦ H @ V`` on fixed rows, the forward and backward passes kept.

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        operator : callable
            ``operator(V)`` equals ``hvp(X, y, V, sample_weight)``; it keeps O(n Σ_l o_l)
            floats (numpy) or the torch adapter's cached primal pass.
        """
        if self._torch is None:
            return _HessianOperator(self, X, y, sample_weight)
        Xf, t = self.features(X), self.encode_target(y)
        w = self.row_weights(y, sample_weight)
        return partial(
            _torch_products,
            self._torch.hvp_operator(Xf, t, sample_weight=w),
            self._penalty_on_rows(y, sample_weight),
        )

    def null_space(self):
        """Return the exact flat directions of a softmax output.

        The same shift of every output intercept (and, without a penalty, of every output
        weight row) leaves the probabilities unchanged.

        Returns
        -------
        B : ndarray of shape (p, r) or None
            None for the other outputs.
        """
        if self._kind != "softmax":
            return None
        layer = self._layout.n_layers - 1
        h, K = self._layout.shapes[layer]
        columns = []
        for unit in range(h if self.alpha == 0 else 0):
            v = np.zeros(self.n_params)
            start = self._layout.coef_slice(layer).start + unit * K
            v[start : start + K] = 1.0 / np.sqrt(K)
            columns.append(v)
        v = np.zeros(self.n_params)
        v[self._layout.intercept_slice(layer)] = 1.0 / np.sqrt(K)
        columns.append(v)
        return np.column_stack(columns)


def _torch_products(operator, penalty, V):
    V = np.asarray(V, dtype=np.float64)
    Vc = V.reshape(len(penalty), -1)
    return (operator(Vc) + penalty[:, None] * Vc).reshape(V.shape)


def _rows_and_batch_size(estimator):
    """(n, B): the rows a minibatch solver trained on and its batch size (``"auto"``:
    min(200, n)). scikit-learn counts the rows it has seen in ``t_``, n per epoch."""
    epochs = len(getattr(estimator, "loss_curve_", ())) or estimator.n_iter_
    n_rows = max(1, round(estimator.t_ / max(1, epochs)))
    if estimator.batch_size == "auto":
        return n_rows, int(min(200, n_rows))
    return n_rows, int(np.clip(estimator.batch_size, 1, n_rows))


# relu nets are fitted with adam here: an L-BFGS minimum of a relu net often puts a hidden
# unit of some row exactly at its kink (z = 0), where the objective has no gradient and finite
# differences straddle the kink (measured on both relu examples: one row of 60 at |z| < 1e-14).
register_adapter(
    MLPClassifier,
    MLPAdapter,
    name="MLPClassifier",
    examples=[
        mlp_classifier_example,
        partial(mlp_classifier_example, n_classes=3, activation="logistic", weighted=True),
        partial(mlp_classifier_example, multilabel=True, activation="identity"),
        partial(
            mlp_classifier_example,
            n_classes=4,
            activation="relu",
            hidden=(6, 5),
            solver="adam",
            exact_optimum=False,
        ),
        partial(mlp_classifier_example, n_classes=3, solver="sgd", exact_optimum=False),
    ],
)
register_adapter(
    MLPRegressor,
    MLPAdapter,
    name="MLPRegressor",
    examples=[
        mlp_regressor_example,
        partial(mlp_regressor_example, n_targets=2, weighted=True),
        partial(mlp_regressor_example, loss="poisson", activation="logistic"),
        partial(mlp_regressor_example, sparse=True),
        partial(
            mlp_regressor_example,
            n_targets=2,
            activation="relu",
            weighted=True,
            solver="adam",
            exact_optimum=False,
        ),
    ],
)
