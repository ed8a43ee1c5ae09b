"""LiSSA: stochastic Neumann-series estimate of the inverse HVP (``method="lissa"``)."""

import numbers
import warnings

import numpy as np
from scipy.sparse.linalg import eigsh
from sklearn.utils import check_random_state

from ..exceptions import ConvergenceWarning
from ._backend import backend_for
from ._base import InverseHessianSolver, register_solver
from ._cg import _HessianOperator
from ._damping import curvature_estimates, suggest_damping
from ._docstrings import with_shared_docstrings

#: Growth of the step size (``_step_growth``) above which a run is reported as diverging. The
#: steps of a converging full-batch run never grow (growth 1); minibatch noise gave at most
#: 2.1 (wine, batches of 10; the benchmark MLPs 1.0-1.6); a diverging run grows geometrically.
_DIVERGENCE_GROWTH = 10.0


#: Steps between the finiteness checks of the recursion (each check is one scalar
#: synchronisation on a device; an overflow is caught at most this many steps late).
_CHECK_EVERY = 32


def _step_growth(sizes):
    """Mean size of the last twentieth of the steps over the smallest such mean (windows of
    depth // 20 steps: minibatch noise averages out, geometric growth does not). ``sizes``
    is an ndarray or a tensor (on the device: only the ratio crosses to the host)."""
    window = max(1, len(sizes) // 20)
    means = sizes[len(sizes) % window :].reshape(-1, window).mean(1)
    smallest = float(means.min())
    return float(means[-1]) / smallest if smallest > 0 else 1.0


@register_solver
@with_shared_docstrings
class LissaSolver(InverseHessianSolver):
    """LiSSA (Agarwal et al. 2017, as used by Koh & Liang 2017; ``method="lissa"``).

    Runs the recursion ``h_0 = v``, ``h_j = v + (I − (Ĥ_j + λI)/scale) h_{j−1}`` for ``depth``
    steps and returns ``h̄ / scale``, averaged over ``repeats`` runs, where ``h̄`` is the mean
    of the iterates after step ``burn_in`` (by default, with a full batch, only ``h_depth``:
    the classic recursion). ``Ĥ_j`` is the Hessian of the objective on a random minibatch of
    ``batch_size`` rows, rescaled to the full data (rows weighted n/b, so the penalty keeps
    its full-data size); the series converges to ``(H + λI)⁻¹ v`` when ``scale`` exceeds the
    largest eigenvalue of every ``Ĥ_j + λI``.

    Cost: ``depth × repeats`` HVPs on ``batch_size`` rows, O(depth · repeats · b p · k) time,
    O(p k) memory (three p × k blocks). Accuracy knobs: ``depth`` (the error after j steps
    shrinks like ``(1 − (λ_min + λ)/scale)^j``, so depth must be several times
    ``scale/(λ_min + λ)``: damping buys speed), ``batch_size``, ``repeats`` and ``burn_in``
    (the variance of the estimate; a full batch has none, so its repeats are one run:
    ``depth`` HVPs on all n rows). Each step
    multiplies all k columns at once; full batch, the torch adapter caches the primal pass
    of the products (``TorchAdapter.hvp_operator``). ``scale=None`` sets it to 2 × the
    largest eigenvalue of H + λI, estimated at fit with a few Lanczos steps (the factor 2
    leaves room for minibatch Hessians). The recursion converges only when every ``Ĥ_j + λI``
    is positive definite with eigenvalues below 2 × scale: a run whose steps keep growing
    (an untrained net or a saddle point without enough damping) warns with a
    ``ConvergenceWarning``; one that overflows raises ``FloatingPointError``.

    For a torch model the recursion runs in torch on the net's device (float64, three
    p × k blocks and ``depth`` step sizes there; minibatches are sliced from the features
    already on the device; a finiteness check, one scalar synchronisation, every 32 steps):
    no p-sized copy to the host. The ``scale`` estimate (a few Lanczos steps of ARPACK at
    fit) runs on the host, one p-vector each way per product.

    With minibatches the recursion is stochastic gradient descent on ``½ hᵀ(H + λI)h/scale −
    vᵀh`` with unbiased Hessian estimates: once the bias has decayed its iterates scatter
    around the solution without approaching it (the last iterate keeps the noise of the last
    few dozen minibatches, whatever the depth). Averaging the iterates after ``burn_in``
    (Polyak & Juditsky 1992; for constant steps on quadratics, Bach & Moulines 2013) averages
    that noise away at no extra HVP (the user guide gives the agreement with ``direct``
    measured on an MLP). Averaging a deterministic (full-batch) run only adds the bias of
    the earlier iterates, so there the default is the last iterate.

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ added to the diagonal of H; "auto": 1e-3 × trace(H)/p, estimated with 16
        Hutchinson probes.
    depth : int, default=1000
        Recursion steps.
    repeats : int, default=1
        Independent runs averaged.
    batch_size : int, default=None
        Rows per HVP; None: all rows (deterministic).
    scale : float, default=None
        Must exceed the largest eigenvalue of H + λI; None: estimated.
    burn_in : int, default=None
        The estimate is the mean of iterates ``burn_in + 1 … depth``; ``depth − 1`` is the
        classic last iterate. None: ``depth // 2`` with minibatches, ``depth − 1`` with a
        full batch.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the Hessian products of torch models (``TorchAdapter.astype``); the
        recursion itself runs in float64. float32 is the precision nets are trained in and
        peer libraries compute in: its products are cheaper, and its rounding (about 1e-7
        relative per product, damped by the contraction) is far below the truncation and
        minibatch error of any practical ``depth`` (measurements: the user guide). Other
        models compute in float64 only.
    random_state : int, RandomState instance or None, default=None
        Minibatch sampling.

    See Also
    --------
    ConjugateGradientSolver : Deterministic, exact to its tolerance.
    DirectSolver : Exact, for models small enough to form H.

    References
    ----------
    Agarwal, N., Bullins, B. & Hazan, E. (2017). Second-order stochastic optimization for
    machine learning in linear time. JMLR 18.
    Koh, P. W. & Liang, P. (2017). Understanding black-box predictions via influence
    functions. ICML.
    Polyak, B. T. & Juditsky, A. B. (1992). Acceleration of stochastic approximation by
    averaging. SIAM J. Control Optim. 30(4).
    Bach, F. & Moulines, E. (2013). Non-strongly-convex smooth stochastic approximation with
    convergence rate O(1/n). NeurIPS.

    Examples
    --------
    Ridge regression of linnerud's three targets (12 parameters), 100 steps:

    >>> import numpy as np
    >>> from sklearn import datasets, linear_model, preprocessing
    >>> from skinfluence.models import adapter_for
    >>> from skinfluence.inverse import DirectSolver, LissaSolver
    >>> X, Y = map(preprocessing.scale, datasets.load_linnerud(return_X_y=True))
    >>> adapter = adapter_for(linear_model.Ridge().fit(X, Y))
    >>> G = adapter.gradients(X[:5], Y[:5]).dense_rows(slice(None)).T
    >>> approx = LissaSolver(damping=1.0, depth=100).fit(adapter, X, Y).solve(G)
    >>> exact = DirectSolver(damping=1.0).fit(adapter, X, Y).solve(G)
    >>> bool(np.corrcoef(approx.ravel(), exact.ravel())[0, 1] > 0.99)
    True
    """

    name = "lissa"
    #: ``solve`` takes a torch tensor and returns one on its device (``inverse._backend``).
    accepts_tensors = True

    def __init__(
        self,
        damping=0.0,
        *,
        depth=1000,
        repeats=1,
        batch_size=None,
        scale=None,
        burn_in=None,
        dtype=np.float64,
        random_state=None,
    ):
        super().__init__(damping)
        for name, value in (("depth", depth), ("repeats", repeats)):
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if batch_size is not None and (
            not isinstance(batch_size, numbers.Integral) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}.")
        if scale is not None and not (isinstance(scale, numbers.Real) and scale > 0):
            raise ValueError(f"scale must be a positive number or None; got {scale!r}.")
        if burn_in is not None and (
            not isinstance(burn_in, numbers.Integral) or not 0 <= burn_in < depth
        ):
            raise ValueError(
                f"burn_in must be an integer in [0, depth - 1] = [0, {depth - 1}] or None; "
                f"got {burn_in!r}."
            )
        try:
            precision = np.dtype(dtype)
        except TypeError:
            precision = None
        if precision not in (np.float32, np.float64):
            raise ValueError(f"dtype must be numpy.float32 or numpy.float64; got {dtype!r}.")
        self.depth = depth
        self.repeats = repeats
        self.batch_size = batch_size
        self.scale = scale
        self.burn_in = burn_in
        self.dtype = dtype
        self.random_state = random_state

    def fit(self, adapter, X, y, sample_weight=None):
        if np.dtype(self.dtype) != np.float64:
            try:
                adapter = adapter.astype(self.dtype)
            except NotImplementedError as exc:
                raise ValueError(
                    f"dtype={np.dtype(self.dtype).name} applies to torch models (float32 "
                    f"products are faster there); {type(adapter).__name__} computes in "
                    "float64."
                ) from exc
        self.adapter_ = adapter
        self.backend_ = backend_for(adapter)
        self.X_, self.y_ = X, np.asarray(y)
        self.sample_weight_ = None if sample_weight is None else np.asarray(sample_weight, float)
        self.n_samples_ = len(self.y_)
        self.n_params_ = adapter.n_params
        self.null_space_ = adapter.null_space()
        B = self.null_space_
        self._null_space = None if B is None else self.backend_.asarray(B)
        # minibatches of a torch model are sliced from its features on the device
        self._X_rows = adapter.features(X) if self.backend_.name == "torch" else X
        # full-batch products (the scale estimate, batch_size=None) reuse one operator: for
        # torch models its primal pass is traced once and cached
        operator = _HessianOperator(adapter, X, y, sample_weight, 0.0)
        self.damping_ = operator.damping = self._resolve_damping(operator=operator)
        self.operator_ = operator
        if self.scale is None:
            if self.n_params_ <= 2:
                top = np.linalg.eigvalsh(operator(np.eye(self.n_params_)))[-1]
            else:
                v0 = np.ones(self.n_params_)
                top = eigsh(operator.linear_operator(), k=1, which="LA", tol=1e-2, v0=v0)[0][0]
            self.scale_ = 2.0 * float(top)
        else:
            self.scale_ = float(self.scale)
        self._rng = check_random_state(self.random_state)
        return self

    def _batch_hvp(self, H_rows, V):
        n = self.n_samples_
        if H_rows is None:
            return self.operator_(V)
        sw = np.full(len(H_rows), n / len(H_rows))
        if self.sample_weight_ is not None:
            sw *= self.sample_weight_[H_rows]
        out = self.adapter_.hvp(self._X_rows[H_rows], self.y_[H_rows], V, sample_weight=sw)
        out = out + self.damping_ * V
        if self._null_space is not None:
            out += self._null_space @ (self._null_space.T @ V)
        return out

    def solve(self, V):
        xp = self.backend_
        Vb = xp.asarray(V)
        one_d = Vb.ndim == 1
        Vb = Vb.reshape(self.n_params_, -1)
        total = xp.zeros(tuple(Vb.shape))
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
            self._recurse(Vb, total)
        out = total / self.repeats
        return xp.like(V, out.reshape(-1) if one_d else out)

    def _recurse(self, V, total):
        n, b = self.n_samples_, self.batch_size
        full_batch = b is None or b >= n
        burn_in = self.burn_in
        if burn_in is None:
            burn_in = self.depth - 1 if full_batch else self.depth // 2
        # full batch, every repeat runs the same deterministic recursion: run it once
        growth = 1.0
        xp = self.backend_  # numpy, or torch on the net's device (V is already there)
        for _ in range(1 if full_batch else self.repeats):
            h = xp.copy(V)
            h_sum = xp.zeros(tuple(V.shape))
            sizes = xp.zeros(self.depth)
            for step in range(1, self.depth + 1):
                rows = None if full_batch else self._rng.choice(n, b, replace=False)
                # the step h_j − h_{j−1} = v − (Ĥ_j + λI) h_{j−1} / scale, in place
                increment = self._batch_hvp(rows, h)  # a fresh array
                increment *= -1.0 / self.scale_
                increment += V
                h += increment
                sizes[step - 1] = xp.norm(increment)
                if (step % _CHECK_EVERY == 0 or step == self.depth) and not xp.all_finite(
                    sizes[step - _CHECK_EVERY if step > _CHECK_EVERY else 0 : step]
                ):
                    raise FloatingPointError(f"LiSSA diverged. {self._divergence_hint()}")
                if step > burn_in:
                    h_sum += h
            growth = max(growth, _step_growth(sizes))
            h = h_sum / (self.depth - burn_in)
            total += h / self.scale_ * (self.repeats if full_batch else 1)
        if growth > _DIVERGENCE_GROWTH:
            warnings.warn(
                f"LiSSA did not converge: its last steps were {growth:.3g}× its smallest. "
                f"{self._divergence_hint()}",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _divergence_hint(self):
        smallest, mean = curvature_estimates(self.operator_)
        suggestion = suggest_damping(
            self.damping_, smallest_eigenvalue=smallest, mean_eigenvalue=mean
        )
        estimate = "" if smallest is None else f" (smallest eigenvalue of H + λI ≈ {smallest:.3g})"
        return (
            "The recursion grows when H + λI has a negative eigenvalue (an untrained net, a "
            f"saddle point{estimate}: increase damping={self.damping_:g}, e.g. "
            f"damping={suggestion:.2g}) or a minibatch Hessian's eigenvalue exceeds "
            f"2 × scale={self.scale_:.3g} (pass a larger scale or batch_size)."
        )
