"""Small fitted GLMs for the common adapter tests (registered in ``_glm.py``).

Each factory draws targets from the distribution of the estimator's Tweedie power, fits it to
solver precision and states its penalty and loss as scikit-learn documents them (not as the
adapter computes them).
"""

import numpy as np
from sklearn._loss.loss import HalfTweedieLoss
from sklearn.linear_model import GammaRegressor, PoissonRegressor
from sklearn.metrics import mean_tweedie_deviance

from ._linear_examples import _l2_penalty
from ._registry import AdapterExample


def documented_power(estimator):
    """The Tweedie power of the estimator's documented distribution."""
    if isinstance(estimator, PoissonRegressor):
        return 1.0
    if isinstance(estimator, GammaRegressor):
        return 2.0
    return float(estimator.power)


def half_deviance_per_sample(estimator, X, y):
    """``dev(y_i, μ_i)/2`` per row from ``estimator.predict`` and scikit-learn's
    ``mean_tweedie_deviance`` (reference for the GLMs)."""
    mu = estimator.predict(X)
    power = documented_power(estimator)
    if 0 < power < 1:  # no distribution: mean_tweedie_deviance refuses it, sklearn._loss not
        loss = HalfTweedieLoss(power=power)
        y = np.asarray(y, dtype=np.float64)
        raw = np.log(mu)
        return loss.loss(y_true=y, raw_prediction=raw) + loss.constant_to_optimal_zero(y)
    return np.array(
        [0.5 * mean_tweedie_deviance([t], [m], power=power) for t, m in zip(y, mu, strict=True)]
    )


def _draw_targets(mu, power, rng):
    """Targets with mean ``mu`` from the Tweedie distribution of ``power`` (or one with the
    same support where none exists)."""
    if power <= 0:
        return mu + 0.5 * rng.randn(len(mu))
    if power < 1 or power == 1:
        return rng.poisson(mu).astype(np.float64)
    if power < 2:  # compound Poisson-gamma: zeros and positive amounts
        counts = rng.poisson(mu)
        return np.array([rng.gamma(2.0, 0.5, k).sum() for k in counts])
    if power == 2:
        return rng.gamma(4.0, mu / 4.0)
    return rng.wald(mu, 4.0)  # inverse Gaussian (power 3) and beyond: positive


def glm_example(estimator, weighted=False):
    """``estimator`` (a scikit-learn GLM) fitted on 60 rows with 3 features to ``tol=1e-12``."""
    rng = np.random.RandomState(0)
    X = 0.5 * rng.randn(60, 3)
    power = documented_power(estimator)
    link = getattr(estimator, "link", "log")
    log_link = link == "log" or (link == "auto" and power > 0)
    eta = X @ np.array([0.6, -0.4, 0.3]) + (0.5 if log_link else 3.0)
    y = _draw_targets(np.exp(eta) if log_link else eta, power, rng)
    sw = rng.uniform(0.5, 2.0, len(y)) if weighted else None
    model = estimator.set_params(solver="newton-cholesky", tol=1e-12, max_iter=1000)
    model.fit(X, y, sample_weight=sw)
    # scikit-learn: 1/(2 Σ s_i) Σ s_i dev_i + α/2 ‖w‖², i.e. Σ s_i (dev_i/2 + α/2 ‖w‖²) up to
    # the factor Σ s_i: every row carries the share s_i of q = α/2 ‖w‖², no fixed penalty.
    return AdapterExample(
        model,
        X,
        y,
        penalty=lambda theta: 0.0,
        penalty_share=_l2_penalty(model.alpha, X.shape[1], 1) if model.alpha else None,
        sample_weight=sw,
        reference_loss=half_deviance_per_sample,
        invalid_y=np.array([-1.0]) if power > 0 else np.zeros((2, 2)),
        id=f"{type(model).__name__}-power{power}-link{link}-weighted{weighted}",
    )
