"""Exact adapter for scikit-learn's GLMs: ``PoissonRegressor``, ``GammaRegressor``,
``TweedieRegressor`` (every power, ``link`` "auto", "identity" or "log").

One output per row (K = 1), the linear predictor ``η = x w + b`` and the mean ``μ = h(η)``
(``h = exp`` for the log link, the identity otherwise). The per-sample loss is half the unit
Tweedie deviance of power p (what ``sklearn._loss``'s ``HalfPoissonLoss``, ``HalfGammaLoss``,
``HalfTweedieLoss`` and ``HalfTweedieLossIdentity`` compute, up to a constant in θ)::

    ℓ(y, μ) = max(y, 0)^{2−p} / ((1−p)(2−p)) − y μ^{1−p} / (1−p) + μ^{2−p} / (2−p),

with the limits ``(y − μ)²/2`` (p = 0), ``y log(y/μ) − y + μ`` (p = 1) and
``log(μ/y) + y/μ − 1`` (p = 2). Its derivatives in η are closed form:
``∂ℓ/∂μ = μ^{−p} (μ − y)`` and ``∂²ℓ/∂μ² = μ^{−p−1} ((1−p) μ + p y)``; with the log link
``∂ℓ/∂η = μ^{1−p} (μ − y)`` and ``∂²ℓ/∂η² = μ^{1−p} ((2−p) μ − (1−p) y)``. The curvature can be
negative (p < 1 or p > 2 with the log link, p > 0 with the identity link, far from the fit),
where the Hessian is then indefinite and the solvers say so.

Objective. scikit-learn minimises ``1/(2 Σ s_i) Σ s_i dev_i + α/2 ‖w‖²`` (``glm.py``); times
``Σ s_i`` this is ``Σ_i s_i (dev_i/2 + α/2 ‖w‖²)``: weights ``w_i = s_i`` (1 without
``sample_weight``) and no fixed penalty, every row carrying the share ``c_i = s_i`` of
``q = α/2 ‖w‖²`` (see "Penalty shares" in :mod:`skinfluence.models._base`). Removing row i
removes ``s_i (ℓ_i + q)``: exactly what scikit-learn's refit without the row minimises (its
mean is over one row fewer), so influence and the Newton leave-one-out refits need no row
count and match cold refits to solver precision.
"""

import numpy as np
from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor

from .._utils._docstring import inherit_docstrings
from ._glm_examples import glm_example
from ._linear import LinearModelAdapter
from ._registry import register_adapter


def glm_power_and_link(estimator):
    """``(power, link)`` of a fitted GLM, as its ``_get_loss`` resolves them."""
    if isinstance(estimator, PoissonRegressor):
        return 1.0, "log"
    if isinstance(estimator, GammaRegressor):
        return 2.0, "log"
    power = float(estimator.power)
    link = estimator.link
    if link == "auto":
        link = "identity" if power <= 0 else "log"
    return power, link


def half_tweedie_deviance(y, mu, power):
    """Half the unit Tweedie deviance ``dev(y, μ)/2`` of ``power``, elementwise.

    The deviance of ``sklearn.metrics.mean_tweedie_deviance`` before the mean; ``inf`` where
    μ is outside the power's range (μ ≤ 0 for p > 0).
    """
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    p = power
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if p == 0:
            out = 0.5 * (y - mu) ** 2
        elif p == 1:
            out = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0) - y + mu
        elif p == 2:
            out = np.log(mu / y) + y / mu - 1.0
        else:
            out = (
                np.maximum(y, 0) ** (2 - p) / ((1 - p) * (2 - p))
                - y * mu ** (1 - p) / (1 - p)
                + mu ** (2 - p) / (2 - p)
            )
    if p != 0:
        out = np.where(mu > 0, out, np.inf)
    return out


@inherit_docstrings
class GeneralizedLinearRegressorAdapter(LinearModelAdapter):
    """Adapter of scikit-learn's ``PoissonRegressor``, ``GammaRegressor``, ``TweedieRegressor``.

    K = 1 output, the linear predictor η; loss ``ℓ_i`` = half the unit Tweedie deviance of
    ``power_`` at ``μ = h(η)`` (``link_`` "log": h = exp; "identity": h(η) = η). Objective in
    sum form ``Σ_i s_i (ℓ_i + α/2 ‖w‖²)``, intercept unpenalised: each row carries its share
    ``s_i`` of the penalty (:meth:`penalty_share_gradient` is ``α [w, 0]``), so removing a row
    removes its share too, as scikit-learn's refit on the other rows does.

    Parameters
    ----------
    estimator : PoissonRegressor, GammaRegressor or TweedieRegressor
        Fitted (any solver; ground truth needs a tight ``tol``: scikit-learn's default 1e-4
        leaves the gradient far from zero at this scale).

    Attributes
    ----------
    power_ : float
        The Tweedie power (1 Poisson, 2 Gamma).
    link_ : {"log", "identity"}
        The link, ``"auto"`` resolved as scikit-learn does (identity for power ≤ 0).

    See Also
    --------
    adapter_for : builds this adapter for a fitted GLM.
    LinearModelAdapter : the shared machinery (η = x w + b, one output).

    Examples
    --------
    Each row carries its share of the penalty: ``penalty_share_gradient`` is ``α [w, 0]``.

    >>> import numpy as np
    >>> from sklearn.linear_model import PoissonRegressor
    >>> from skinfluence.models import adapter_for
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(50, 2)
    >>> y = rng.poisson(np.exp(0.3 * X[:, 0]))
    >>> adapter = adapter_for(PoissonRegressor(alpha=0.5).fit(X, y))
    >>> adapter.power_, adapter.link_, adapter.n_params
    (1.0, 'log', 3)
    >>> np.allclose(adapter.penalty_share_gradient(), [*(0.5 * adapter.coef_[0]), 0.0])
    True
    """

    def __init__(self, estimator):
        super().__init__(estimator)
        self.power_, self.link_ = glm_power_and_link(estimator)

    def penalty_share_strength(self):
        return float(self.estimator.alpha)

    def encode_target(self, y):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
            raise ValueError(f"y must be 1-D targets; got shape {y.shape}.")
        y = y.reshape(-1)
        p = self.power_
        valid = np.isfinite(y) & ((y > 0) if p >= 2 else (y >= 0) if p > 0 else True)
        if not np.all(valid):
            domain = "real" if p <= 0 else "non-negative" if p < 2 else "positive"
            raise ValueError(
                f"y must be {domain} for a Tweedie power of {p:g} "
                f"({type(self.estimator).__name__}); got {y[~valid][:5].tolist()}."
            )
        return y[:, None]

    @property
    def output_link(self):
        """The output link, the GLM's ("log" or "identity"): see ``ModelAdapter.output_link``."""
        return self.link_

    def _mean(self, eta):
        return np.exp(eta) if self.link_ == "log" else eta

    def _loss_from_outputs(self, eta, t):
        return half_tweedie_deviance(t[:, 0], self._mean(eta[:, 0]), self.power_)

    def output_gradients(self, eta, t):
        mu, y, p = self._mean(eta[:, 0]), t[:, 0], self.power_
        scale = mu ** (1 - p) if self.link_ == "log" else mu ** (-p)
        return (scale * (mu - y))[:, None]

    def output_derivatives(self, eta, t):
        mu, y, p = self._mean(eta[:, 0]), t[:, 0], self.power_
        if self.link_ == "log":
            scale = mu ** (1 - p)
            R, S = scale * (mu - y), scale * ((2 - p) * mu - (1 - p) * y)
        elif p == 0:  # least squares: ∂ℓ/∂η = μ − y, ∂²ℓ/∂η² = 1
            R, S = mu - y, np.ones_like(mu)
        else:
            scale = mu ** (-p - 1)
            R, S = scale * mu * (mu - y), scale * ((1 - p) * mu + p * y)
        return R[:, None], np.broadcast_to(S, mu.shape)[:, None, None].copy()


# -- registration, with the examples the common adapter tests check ------------------------
register_adapter(
    PoissonRegressor,
    GeneralizedLinearRegressorAdapter,
    examples=[
        lambda: glm_example(PoissonRegressor(alpha=0.1)),
        lambda: glm_example(PoissonRegressor(alpha=0.0, fit_intercept=False), weighted=True),
    ],
)
register_adapter(
    GammaRegressor,
    GeneralizedLinearRegressorAdapter,
    examples=[lambda: glm_example(GammaRegressor(alpha=0.1), weighted=True)],
)
register_adapter(
    TweedieRegressor,
    GeneralizedLinearRegressorAdapter,
    name="TweedieRegressor (any power and link)",
    examples=[
        lambda: glm_example(TweedieRegressor(power=0.0, alpha=0.1), weighted=True),
        lambda: glm_example(TweedieRegressor(power=0.0, link="log", alpha=0.1)),
        lambda: glm_example(TweedieRegressor(power=1.5, alpha=0.1), weighted=True),
        lambda: glm_example(TweedieRegressor(power=1.0, link="identity", alpha=0.1)),
        lambda: glm_example(TweedieRegressor(power=2.0, alpha=0.05)),
        lambda: glm_example(TweedieRegressor(power=3.0, alpha=0.1, fit_intercept=False)),
        lambda: glm_example(TweedieRegressor(power=-1.0, alpha=0.1)),
        lambda: glm_example(TweedieRegressor(power=0.5, alpha=0.1)),
    ],
)
