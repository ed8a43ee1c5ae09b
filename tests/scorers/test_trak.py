"""TRAKScorer: the projected Gauss–Newton kernel against the exact influence, the TRAK kernel
against a dense margin computation, agreement rising with k, Johnson–Lindenstrauss inner
products, the ensemble, seeds, pickling and progress."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import scale

from skinfluence import InfluenceScorer, TRAKScorer
from skinfluence.models import adapter_for
from skinfluence.scorers import RandomProjection
from skinfluence.scorers import _trak as trak_module


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return scale(X)[:200], y[:200]


# -- the projection ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gaussian", "sparse-sign"])
def test_projection_preserves_inner_products_better_as_k_grows(kind):
    rng = np.random.default_rng(0)
    U = rng.normal(size=(20, 3000))
    exact = U @ U.T
    scale_ = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    errors = []
    for k in (32, 128, 512, 2048):
        Z = RandomProjection(3000, k, kind=kind, seed=1).project(U)
        err = np.abs(Z @ Z.T - exact) / scale_
        errors.append(err.max())
        assert err.max() < 6 / np.sqrt(k)  # JL: relative error O(1/√k)
    assert errors == sorted(errors, reverse=True)


@pytest.mark.parametrize("kind", ["gaussian", "sparse-sign"])
def test_projection_tiles_are_one_matrix(kind, monkeypatch):
    P = RandomProjection(5000, 300, kind=kind, seed=3)  # two tiles in each direction
    dense = P.dense()
    assert dense.shape == (5000, 300)
    assert abs(dense.var() * 300 - 1) < 0.02  # E[P Pᵀ] = I
    if kind == "sparse-sign":
        assert abs((dense == 0).mean() - 2 / 3) < 0.01
    G = np.random.default_rng(0).normal(size=(4, 5000))
    monkeypatch.setattr(trak_module, "_CACHE_ENTRIES", 0)  # tile by tile, nothing kept
    fresh = RandomProjection(5000, 300, kind=kind, seed=3)
    np.testing.assert_allclose(fresh.project(G), G @ dense, rtol=1e-12, atol=1e-12)
    for b, cols in enumerate(fresh.column_blocks()):
        np.testing.assert_array_equal(fresh.columns(b), dense[:, cols])
    assert fresh._whole is None
    assert not np.allclose(RandomProjection(5000, 300, kind=kind, seed=4).dense(), dense)


@pytest.mark.parametrize("damping", [0.0, 0.3])
@pytest.mark.parametrize("n_rows", [10, 80])  # the n × n Gram route; the k × k kernel
def test_kernel_inverse_routes_agree_with_a_dense_inverse(damping, n_rows):
    rng = np.random.default_rng(0)
    F = rng.normal(size=(n_rows, 40))
    K = F.T @ F + damping * np.eye(40)
    expected = np.linalg.pinv(K) if damping == 0 else np.linalg.inv(K)
    X = np.vstack([F[:3], rng.normal(size=(2, 40))])  # in and (if n < k) off the range
    for full_rank in (False, True):
        inverse = trak_module.kernel_inverse(damping, features=F, full_rank=full_rank)
        got = inverse.apply(X)
        rows = slice(None) if damping > 0 or n_rows > 40 else slice(0, 3)
        np.testing.assert_allclose(got[rows], (X @ expected)[rows], rtol=1e-8, atol=1e-10)
    if n_rows < 40 and damping == 0:  # pseudo-inverse: off the range is dropped
        np.testing.assert_allclose(
            trak_module.kernel_inverse(0.0, features=F).apply(X), X @ expected, atol=1e-10
        )


def test_auto_damping_is_the_mean_eigenvalue_of_the_kernel(cancer):
    X, y = cancer
    scorer = TRAKScorer(LogisticRegression(), projection_dim=16, random_state=0).fit(X, y)
    adapter = adapter_for(scorer.estimator_)
    F = adapter.gradients(X, y).dense_rows(slice(None)) / -np.expm1(-adapter.loss(X, y))[:, None]
    Phi = F @ scorer.projections_[0].dense()  # trace(ΦᵀΦ)/k = Σ‖Pᵀ∇f_i‖²/k
    assert scorer.damping_[0] == pytest.approx(np.sum(Phi**2) / 16, rel=1e-10)


# -- ground truth on a net -----------------------------------------------------------------
torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from tests.models.test_gauss_newton import _trained  # noqa: E402


@pytest.fixture(scope="module")
def net():
    model, X, y = _trained()  # 4-6-3 tanh net, Adam with weight decay: p = 51
    return model, X.astype(np.float32), y


@pytest.fixture(scope="module")
def exact_ggn(net):
    model, X, y = net
    ref = InfluenceScorer(
        FrozenEstimator(model), method="direct", hessian="gauss-newton", damping=0
    ).fit(X, y)
    return ref, ref.influence(X[:15], y[:15])


@pytest.mark.parametrize("kind", ["gaussian", "sparse-sign"])
@pytest.mark.parametrize("factor", [1, 2])
def test_gauss_newton_kernel_with_k_at_least_p_is_the_exact_influence(net, exact_ggn, kind, factor):
    model, X, y = net
    ref, expected = exact_ggn
    p = adapter_for(model).n_params
    scorer = TRAKScorer(
        FrozenEstimator(model),
        kernel="gauss-newton",
        projection_dim=factor * p,
        projection=kind,
        damping=0,
        random_state=0,
    ).fit(X, y)
    got = scorer.influence(X[:15], y[:15])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7 * np.abs(expected).max())
    np.testing.assert_allclose(scorer.scores_, ref.scores_, rtol=1e-6, atol=1e-9)
    assert np.all(scorer.out_to_loss_ == 1)
    np.testing.assert_allclose(  # new rows: their self-influence with the fitted kernel
        scorer.score_samples(X[:5], y[:5]), scorer.scores_[:5], rtol=1e-9
    )


def test_agreement_with_the_exact_influence_rises_with_k(net, exact_ggn):
    model, X, y = net
    _, expected = exact_ggn
    p = adapter_for(model).n_params
    agreement = []
    for k in (p // 4, p // 2, p):
        scorer = TRAKScorer(
            FrozenEstimator(model),
            kernel="gauss-newton",
            projection_dim=k,
            damping=0,
            random_state=0,
        ).fit(X, y)
        got = scorer.influence(X[:15], y[:15])
        agreement.append(np.corrcoef(got.ravel(), expected.ravel())[0, 1])
    assert agreement == sorted(agreement)
    assert agreement[0] < 0.95 and agreement[-1] > 1 - 1e-9


def _dense_trak(model, X, y, X_test, y_test):
    """TRAK unprojected: margin gradients by autograd, ∇f_tᵀ (Σ ∇f∇fᵀ)⁺ ∇f_i (1 − p_i)."""
    from torch.func import grad, vmap

    adapter = adapter_for(model)

    def margin(theta, x, t):
        logp = torch.log_softmax(adapter._outputs(theta, x[None])[0], dim=0)
        own = (logp * (torch.arange(logp.shape[0]) == t)).sum()
        return own - torch.log1p(-own.exp())

    def grads(Xa, ya):
        Xt = torch.as_tensor(np.asarray(Xa, np.float64))
        tt = torch.as_tensor(np.asarray(ya))
        return vmap(grad(margin), in_dims=(None, 0, 0))(adapter._theta, Xt, tt).numpy()

    F, F_test = grads(X, y), grads(X_test, y_test)
    with torch.no_grad():
        logits = adapter._outputs(adapter._theta, torch.as_tensor(np.asarray(X, np.float64)))
    proba = torch.softmax(logits, dim=1).numpy()
    q = 1 - proba[np.arange(len(y)), y]
    return (F_test @ np.linalg.pinv(F.T @ F) @ F.T) * q


def test_trak_kernel_with_k_at_least_p_is_unprojected_trak(net):
    model, X, y = net
    p = adapter_for(model).n_params
    scorer = TRAKScorer(
        FrozenEstimator(model), projection_dim=2 * p, damping=0, random_state=0
    ).fit(X, y)
    expected = _dense_trak(model, X, y, X[:10], y[:10])
    got = scorer.influence(X[:10], y[:10])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8 * np.abs(expected).max())


def test_ensemble_of_nets_averages_models_trained_from_different_seeds(net):
    model, X, y = net
    X = X.astype(np.float64)  # the module is float64
    unfitted = model.__class__(**model.get_params()).set_params(max_epochs=5)
    scorer = TRAKScorer(unfitted, projection_dim=16, n_models=3, random_state=0).fit(X, y)
    thetas = [adapter_for(m).params() for m in scorer.estimators_]
    assert len(thetas) == 3 and not np.allclose(thetas[0], thetas[1])
    again = TRAKScorer(unfitted, projection_dim=16, n_models=3, random_state=0).fit(X, y)
    np.testing.assert_allclose(again.scores_, scorer.scores_, rtol=1e-6)
    assert scorer.influence(X[:4], y[:4]).shape == (4, len(y))


# -- scikit-learn models -------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_ensemble_of_sklearn_mlps_is_seeded_and_pickles(cancer):
    X, y = cancer
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30)
    scorer = TRAKScorer(mlp, projection_dim=64, n_models=3, random_state=0).fit(X, y)
    assert len({m.coefs_[0][0, 0] for m in scorer.estimators_}) == 3
    same = TRAKScorer(mlp, projection_dim=64, n_models=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(same.scores_, scorer.scores_)
    other = TRAKScorer(mlp, projection_dim=64, n_models=3, random_state=1).fit(X, y)
    assert not np.allclose(other.scores_, scorer.scores_)
    one = TRAKScorer(mlp, projection_dim=64, n_models=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(one.estimators_[0].coefs_[0], scorer.estimators_[0].coefs_[0])
    restored = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_array_equal(restored.influence(X[:5], y[:5]), scorer.influence(X[:5], y[:5]))
    parallel = TRAKScorer(mlp, projection_dim=64, n_models=3, random_state=0, n_jobs=2)
    np.testing.assert_allclose(parallel.fit(X, y).scores_, scorer.scores_, rtol=1e-10)


def test_self_influence_flags_flipped_labels(cancer):
    from sklearn.metrics import roc_auc_score

    X, y = cancer
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), 20, replace=False)
    noisy = y.copy()
    noisy[flipped] = 1 - noisy[flipped]
    scorer = TRAKScorer(LogisticRegression(), projection_dim=16, random_state=0).fit(X, noisy)
    assert roc_auc_score(np.isin(np.arange(len(y)), flipped), scorer.scores_) > 0.9


def test_gauss_newton_kernel_on_a_linear_model_is_the_influence(cancer):
    X, y = cancer
    ridge = Ridge(alpha=1.0).fit(X, y)
    ref = InfluenceScorer(FrozenEstimator(ridge), method="direct").fit(X, y)
    scorer = TRAKScorer(
        FrozenEstimator(ridge), kernel="gauss-newton", projection_dim=31, damping=0, random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(
        scorer.influence(X[:5], y[:5]), ref.influence(X[:5], y[:5]), rtol=1e-7, atol=1e-12
    )


def test_refusals_say_what_to_do(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="kernel='gauss-newton'"):
        TRAKScorer(Ridge(), projection_dim=8).fit(X, y.astype(float))
    frozen = FrozenEstimator(LogisticRegression().fit(X, y))
    with pytest.raises(ValueError, match="n_models=1"):
        TRAKScorer(frozen, n_models=2).fit(X, y)


def test_verbose_shows_progress_over_models(cancer, capsys):
    X, y = cancer
    TRAKScorer(LogisticRegression(), projection_dim=8, n_models=2, verbose=1).fit(X, y)
    assert "TRAKScorer" in capsys.readouterr().err


# -- the device path (issue 18 §5) ---------------------------------------------------------
from tests.inverse.test_device import DEVICES, _net, count_host_copies, numpy_path  # noqa: E402


def _fit_both(device, kernel, k, chunk=16, sample_weight=None):
    model, X, y = _net(device)  # 5-8-3 tanh net with weight decay: p = 75
    params = {"kernel": kernel, "projection_dim": k, "chunk_size": chunk, "random_state": 0}
    scorer = TRAKScorer(FrozenEstimator(model), **params).fit(X[:40], y[:40], sample_weight)
    with numpy_path():
        reference = TRAKScorer(FrozenEstimator(model), **params).fit(X[:40], y[:40], sample_weight)
    return scorer, reference, X, y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel", ["trak", "gauss-newton"])
@pytest.mark.parametrize("k", [24, 300])  # k < n: k × k Cholesky; k > n: the n × n Gram route
def test_device_path_equals_the_numpy_path(device, kernel, k, monkeypatch):
    """A torch net is projected and solved on its device; the numbers are the numpy path's
    (the same random matrix, tile by tile from the seeds) to rounding."""
    if k == 300:  # P regenerated tile by tile (two tile columns), never kept whole
        monkeypatch.setattr(trak_module, "_CACHE_ENTRIES", 0)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, 40)
    scorer, reference, X, y = _fit_both(device, kernel, k, sample_weight=weights)
    assert scorer._backends[0] is not None and reference._backends[0] is None
    assert isinstance(scorer.train_features_[0], torch.Tensor)
    assert scorer.train_features_[0].device.type == device
    assert isinstance(reference.train_features_[0], np.ndarray)
    got, expected = scorer.influence(X[40:], y[40:]), reference.influence(X[40:], y[40:])
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    for a, b in [
        (scorer.scores_, reference.scores_),
        (scorer.score_samples(X[40:], y[40:]), reference.score_samples(X[40:], y[40:])),
        (scorer.out_to_loss_, reference.out_to_loss_),
        (scorer.damping_, reference.damping_),
    ]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * np.abs(b).max())
    restored = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_allclose(restored.influence(X[40:], y[40:]), got, rtol=0, atol=1e-14)


@pytest.mark.parametrize("kernel", ["trak", "gauss-newton"])
def test_device_path_copies_no_gradient_chunk_to_the_host(kernel):
    """Fit copies the same few n-vectors to the host however many chunks there are, and
    influence one result block per test chunk; no host gradient block is ever made."""
    from skinfluence.torch._adapter import TorchGradientMatrix

    model, X, y = _net()
    saved = TorchGradientMatrix.dense_rows

    def refuse(self, rows):
        raise AssertionError("a host gradient block was made on the device path")

    counts = {}
    TorchGradientMatrix.dense_rows = refuse
    try:
        for chunk in (20, 4):  # 2 and 10 training chunks; 1 and 5 test chunks
            scorer = TRAKScorer(
                FrozenEstimator(model), kernel=kernel, projection_dim=24, chunk_size=chunk
            )
            with count_host_copies() as fit_calls:
                scorer.fit(X[:40], y[:40])
            with count_host_copies() as influence_calls:
                scorer.influence(X[40:], y[40:])
            counts[chunk] = len(fit_calls), len(influence_calls)
    finally:
        TorchGradientMatrix.dense_rows = saved
    assert counts[20][0] == counts[4][0] <= 8, counts  # q and the self-influence (cpu + numpy)
    assert counts[20][1] == 2 and counts[4][1] == 2 * 5, counts  # one block per test chunk
    with numpy_path():  # the counter can fail: the numpy path copies every gradient chunk
        scorer = TRAKScorer(FrozenEstimator(model), kernel=kernel, projection_dim=24, chunk_size=4)
        with count_host_copies() as calls:
            scorer.fit(X[:40], y[:40])
    assert len(calls) >= 10
