"""TracInScorer: checkpoints, learning rates, and the loss change of one SGD step."""

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from skinfluence import InfluenceScorer, TracInScorer
from skinfluence.models import adapter_for


def test_single_checkpoint_is_gradient_similarity(wine):
    X, y = wine
    tracin = TracInScorer(LogisticRegression()).fit(X, y)
    ident = InfluenceScorer(LogisticRegression(), method="identity").fit(X, y)
    np.testing.assert_allclose(
        tracin.influence(X[:5], y[:5]), ident.influence(X[:5], y[:5]), rtol=1e-10
    )
    np.testing.assert_allclose(tracin.scores_, ident.scores_, rtol=1e-10)
    np.testing.assert_allclose(
        tracin.influence(X[:5], y[:5], aggregate="sum"), tracin.influence(X[:5], y[:5]).sum(axis=0)
    )


def test_checkpoints_are_summed_with_their_learning_rates(wine):
    X, y = wine
    snaps = [LogisticRegression(C=c).fit(X, y) for c in (0.01, 0.1, 1.0)]
    rates = [0.5, 0.2, 0.1]
    scorer = TracInScorer(LogisticRegression(), checkpoints=snaps, learning_rates=rates)
    scorer.fit(X, y)
    expected = sum(
        r * TracInScorer(FrozenEstimator(m)).fit(X, y).influence(X[:4], y[:4])
        for r, m in zip(rates, snaps, strict=True)
    )
    np.testing.assert_allclose(scorer.influence(X[:4], y[:4]), expected, rtol=1e-10)
    assert scorer.scores_.shape == (len(y),)
    assert np.all(scorer.scores_ >= 0)


def test_influence_is_the_test_loss_drop_of_one_sgd_step_on_the_row(breast_cancer):
    # Pruthi et al.'s derivation: an SGD step of size η on z_i lowers the loss of z_t by
    # η ∇ℓ(z_t)·∇ℓ(z_i) to first order. Check it against the actual step.
    X, y = breast_cancer
    model = LogisticRegression(C=0.1).fit(X, y)
    eta = 1e-4
    tracin = TracInScorer(FrozenEstimator(model), learning_rates=eta).fit(X, y)
    infl = tracin.influence(X[:3], y[:3])
    adapter = adapter_for(model)
    theta = adapter.params()
    G = adapter.gradients(X, y).dense_rows(slice(None))
    for i in (0, 10, 200):
        stepped = LogisticRegression(C=0.1).fit(X, y)  # same classes_; parameters overwritten
        new = theta - eta * G[i]
        stepped.coef_, stepped.intercept_ = new[:-1][None], new[-1:]
        drop = adapter.loss(X[:3], y[:3]) - adapter_for(stepped).loss(X[:3], y[:3])
        # Second-order remainder O(η² ‖g‖² ‖H_t‖) is < 1e-3 of the first-order term here.
        np.testing.assert_allclose(infl[:, i], drop, rtol=1e-3, atol=1e-12)


def test_skorch_checkpoint_files_are_read_in_epoch_order(tmp_path):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    from skorch.callbacks import Checkpoint

    rng = np.random.RandomState(0)
    X = rng.randn(40, 4)
    y = (X[:, 0] > 0).astype(np.int64)
    torch.manual_seed(0)
    ckpt = Checkpoint(
        monitor=None,
        f_params="params_{last_epoch[epoch]}.pt",
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        dirname=str(tmp_path),
        load_best=False,
    )
    net = skorch.NeuralNetClassifier(
        # float64 module: the scorers validate X to float64 (a float32 net needs a cast step).
        torch.nn.Sequential(
            torch.nn.Linear(4, 3, dtype=torch.float64),
            torch.nn.Tanh(),
            torch.nn.Linear(3, 2, dtype=torch.float64),
        ),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=11,
        lr=0.1,
        train_split=None,
        verbose=0,
        callbacks=[ckpt],
    )
    rates = np.linspace(0.1, 0.01, 11)
    scorer = TracInScorer(net, checkpoints=str(tmp_path / "params_*.pt"), learning_rates=rates).fit(
        X, y
    )
    assert len(scorer.adapters_) == 11
    # Natural order: epoch 2 before epoch 10 (a plain sort would put "10" first).
    states = [torch.load(tmp_path / f"params_{e}.pt", weights_only=True) for e in range(1, 12)]
    from_dicts = TracInScorer(
        FrozenEstimator(scorer.estimator_), checkpoints=states, learning_rates=rates
    ).fit(X, y)
    np.testing.assert_allclose(scorer.scores_, from_dicts.scores_, rtol=1e-12)
    last = adapter_for(scorer.estimator_)
    np.testing.assert_allclose(scorer.adapters_[-1].params(), last.params(), rtol=1e-6)


def test_bad_checkpoints_and_rates(wine, tmp_path):
    X, y = wine
    with pytest.raises(ValueError, match="matches no file"):
        TracInScorer(LogisticRegression(), checkpoints=str(tmp_path / "none_*.pt")).fit(X, y)
    with pytest.raises(ValueError, match="one per checkpoint"):
        TracInScorer(
            LogisticRegression(),
            checkpoints=[LogisticRegression().fit(X, y)] * 2,
            learning_rates=[1.0, 2.0, 3.0],
        ).fit(X, y)
    with pytest.raises(TypeError, match="torch model"):
        TracInScorer(LogisticRegression(), checkpoints=[{"w": 1}]).fit(X, y)
