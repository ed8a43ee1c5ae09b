"""GraNdScorer: equals the norm of the actual per-sample gradient (finite differences of the
model's own predictions; per-row torch autograd for skorch), and ranks label noise."""

import copy

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import GraNdScorer
from skinfluence.datasets import flip_labels


def finite_difference_gradient_norms(model, X, y, h=1e-6):
    """‖∂(−log p_y)/∂(coef_, intercept_)‖ per row, by central differences of predict_proba."""
    codes = np.searchsorted(model.classes_, y)

    def losses(m):
        return -np.log(m.predict_proba(X)[np.arange(len(y)), codes])

    columns = []
    for attr in ("coef_", "intercept_"):
        for idx in np.ndindex(getattr(model, attr).shape):
            plus, minus = copy.deepcopy(model), copy.deepcopy(model)
            getattr(plus, attr)[idx] += h
            getattr(minus, attr)[idx] -= h
            columns.append((losses(plus) - losses(minus)) / (2 * h))
    return np.linalg.norm(np.stack(columns, axis=1), axis=1)


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_grand_of_logistic_regression_is_the_actual_gradient_norm(dataset, request):
    X, y = request.getfixturevalue(dataset)
    X, y = X[:150], y[:150]
    scorer = GraNdScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 3})
    scorer.fit(X, y)
    probe = scorer.estimators_[0]
    assert probe.n_iter_[0] <= 3  # evaluated shortly after initialisation, not at convergence
    # Central differences: O(h²) ≈ 1e-12 truncation, ~1e-10 rounding (losses ~1 over h=1e-6).
    expected = finite_difference_gradient_norms(probe, X, y)
    np.testing.assert_allclose(scorer.scores_, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(scorer.score_samples(X, y), scorer.scores_)


def test_grand_through_a_pipeline_is_taken_wrt_the_last_step(breast_cancer):
    X, y = breast_cancer
    X = X[:150] * 10 + 3  # a scaler that matters
    y = y[:150]
    scorer = GraNdScorer(make_pipeline(StandardScaler(), LogisticRegression()), n_repeats=1).fit(
        X, y
    )
    pipe = scorer.estimators_[0]
    expected = finite_difference_gradient_norms(pipe[-1], pipe[0].transform(X), y)
    np.testing.assert_allclose(scorer.scores_, expected, rtol=1e-6, atol=1e-8)


def test_grand_of_ridge_is_twice_the_residual_times_the_row_norm():
    rng = np.random.RandomState(0)
    X = rng.randn(80, 5)
    y = X @ rng.randn(5) + rng.randn(80)
    scorer = GraNdScorer(Ridge(alpha=3.0), n_repeats=1).fit(X, y)
    model = scorer.estimators_[0]
    # ℓ = (y − η)², gradient −2(y − η)[x, 1]
    expected = 2 * np.abs(y - model.predict(X)) * np.sqrt((X**2).sum(axis=1) + 1)
    np.testing.assert_allclose(scorer.scores_, expected, rtol=1e-12)
    free = scorer.score_samples(X)  # label-free: the prediction itself, zero residual
    np.testing.assert_allclose(free, 0.0, atol=1e-12)


def test_flipped_labels_rank_high(breast_cancer):
    X, y = breast_cancer
    y_noisy, flipped = flip_labels(y, 0.1, random_state=0)
    scorer = GraNdScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 5})
    # measured 0.99; same bar as EL2N (GraNd = EL2N × ‖x̃‖ for a linear model)
    assert roc_auc_score(flipped, scorer.fit(X, y_noisy).scores_) >= 0.9


def test_model_without_gradients_is_a_clear_error(wine):
    X, y = wine
    with pytest.raises(TypeError, match="no gradient adapter"):
        GraNdScorer(RandomForestClassifier(n_estimators=3), n_repeats=1).fit(X, y)


def test_inputs_and_estimator_are_not_modified(wine):
    X, y = wine
    X, y = X.copy(), y.copy()
    est = LogisticRegression(max_iter=50)
    before = joblib.hash((X, y, est))
    GraNdScorer(est, n_repeats=2, probe_params={"max_iter": 2}, random_state=0).fit(X, y)
    assert joblib.hash((X, y, est)) == before


def test_skorch_net_gradient_norms_match_per_row_autograd(wine):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    pytest.importorskip("skinfluence.torch._adapter")

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(13, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
            )

        def forward(self, X):
            return torch.softmax(self.layers(X), dim=-1)

    X, y = wine
    X, y = X[:60], y[:60] + 10  # labels that are not 0..K-1: the scorer encodes them
    net = skorch.NeuralNetClassifier(MLP, lr=0.1, train_split=None, verbose=0)
    scorer = GraNdScorer(net, n_repeats=2, probe_params={"max_epochs": 0}, random_state=0)
    scorer.fit(X, y)
    assert not np.allclose(scorer.repeat_scores_[0], scorer.repeat_scores_[1])  # two inits
    codes = np.searchsorted(np.unique(y), y)
    for r, probe in enumerate(scorer.estimators_):
        module = copy.deepcopy(probe.module_).double().eval()
        expected = []
        X_net = torch.as_tensor(X.astype(np.float32)).double()  # the net's input is float32
        for x_i, c_i in zip(X_net, codes, strict=True):
            module.zero_grad()
            # skorch's NLLLoss on log(p + eps), as NeuralNetClassifier trains it
            loss = -torch.log(module(x_i[None])[0, c_i] + torch.finfo(torch.float32).eps)
            loss.backward()
            expected.append(torch.cat([p.grad.ravel() for p in module.parameters()]).norm())
        # float64 on both sides; the adapter batches rows with vmap, autograd does one by one
        np.testing.assert_allclose(scorer.repeat_scores_[r], np.array(expected), rtol=1e-8)
