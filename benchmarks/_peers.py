"""Peer libraries for the benchmarks, each behind an import guard.

Peers live in their own virtual environments (see benchmarks/README.md); a benchmark calls
``available()`` and skips the peer's rows when it is missing. Each wrapper returns results in
the peer's OWN convention and documents how to convert them to skinfluence's (leave-one-out
units, positive = the training row helps the test row).
"""

import numpy as np


def pydvl_available():
    """True when pyDVL's torch influence module (and torch) can be imported."""
    try:
        import pydvl.influence.torch  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def pydvl_version():
    import pydvl

    return pydvl.__version__


class PyDVLDirectLogistic:
    """pyDVL's ``DirectInfluence`` on a torch twin of a binary ``LogisticRegression``.

    The twin is ``nn.Linear(p, 1)`` (float64) holding the fitted ``coef_`` / ``intercept_``,
    with the mean ``BCEWithLogitsLoss``. pyDVL's Hessian is that of the *mean* loss over the
    training loader; sklearn's penalty ``‖w‖²/(2C)`` on the sum objective becomes pyDVL's
    ``regularization = 1/(n C)`` (added to every parameter, so pyDVL also penalises the
    intercept, which sklearn leaves free).

    Convention (pyDVL 0.10.0, read from ``pydvl/influence/types.py`` and checked numerically
    by the benchmark): ``influences(..., mode=InfluenceMode.Up)[t, i] = +∇ℓ_tᵀ (H_mean +
    λI)⁻¹ ∇ℓ_i``, the bare bilinear form with NO minus sign, i.e. ``−I_up,loss`` of Koh &
    Liang: positive = helpful, ``n`` times larger than leave-one-out units. (Some notes say
    pyDVL returns ``I_up,loss``; this release does not.) With ``H_mean + λI = H_sum / n`` it is
    ``n`` times skinfluence's ``influence``: convert with :meth:`to_loo_units`. The conversion
    is exact without an intercept; with one, pyDVL's intercept penalty makes it approximate.
    """

    def __init__(self, model, n_train, *, batch_size=2048):
        import torch
        from torch import nn

        self.torch = torch
        coef = np.asarray(model.coef_, dtype=np.float64)
        self.net = nn.Linear(coef.shape[1], 1, bias=bool(model.fit_intercept)).double()
        with torch.no_grad():
            self.net.weight.copy_(torch.from_numpy(coef))
            if model.fit_intercept:
                self.net.bias.copy_(torch.from_numpy(np.asarray(model.intercept_, np.float64)))
        self.net.eval()
        self.n_train = n_train
        self.regularization = 1.0 / (n_train * model.C)
        self.batch_size = batch_size

    def _tensors(self, X, y):
        t = self.torch
        return t.from_numpy(np.ascontiguousarray(X, dtype=np.float64)), t.from_numpy(
            np.asarray(y, dtype=np.float64).reshape(-1, 1)
        )

    def influences(self, X_train, y_train, X_test, y_test):
        """Fit DirectInfluence on the training set and return (n_test, n_train) I_up,loss."""
        from pydvl.influence import InfluenceMode
        from pydvl.influence.torch import DirectInfluence
        from torch.utils.data import DataLoader, TensorDataset

        x, y = self._tensors(X_train, y_train)
        xt, yt = self._tensors(X_test, y_test)
        loader = DataLoader(TensorDataset(x, y), batch_size=self.batch_size)
        model = DirectInfluence(
            self.net,
            self.torch.nn.functional.binary_cross_entropy_with_logits,
            regularization=self.regularization,
        ).fit(loader)
        return model.influences(xt, yt, x, y, mode=InfluenceMode.Up).detach().numpy()

    def to_loo_units(self, values):
        """pyDVL's ``−I_up,loss`` → skinfluence's leave-one-out units (positive = helps)."""
        return np.asarray(values) / self.n_train
