"""Turn-over dropout: masks, the sub-network property, and mislabel detection on digits."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from torch import nn  # noqa: E402

from skinfluence import TurnOverDropoutScorer  # noqa: E402
from skinfluence.datasets import flip_labels  # noqa: E402
from skinfluence.metrics import detection_scores  # noqa: E402
from skinfluence.torch import TurnOverDropout, dropout_mlp, turnover_uniforms  # noqa: E402


def mlp(n_features, n_classes, width=64):
    return dropout_mlp(n_features, n_classes, hidden=(width,))


def test_masks_are_a_fixed_function_of_row_seed_and_layer():
    index = torch.arange(2000)
    u = turnover_uniforms(index, 64, seed=3, layer=0)
    np.testing.assert_array_equal(
        u[[5, 7]], turnover_uniforms(torch.tensor([5, 7]), 64, seed=3, layer=0)
    )
    assert not torch.equal(u, turnover_uniforms(index, 64, seed=4, layer=0))
    assert not torch.equal(u, turnover_uniforms(index, 64, seed=3, layer=1))
    # Uniform on [0, 1): mean 1/2 ± 3 standard errors (1/√12 / √(2000·64) ≈ 0.0008).
    assert abs(float(u.mean()) - 0.5) < 0.003
    # Each row keeps ~half of 64 units: binomial std √(64/4)/64 = 0.0625 of the fraction.
    kept = (u >= 0.5).double().mean(dim=1)
    assert 0.05 < float(kept.std()) < 0.075


def test_a_row_only_updates_its_own_sub_network():
    torch.manual_seed(0)
    net = TurnOverDropout(mlp(5, 3, width=32), p=0.5, seed=1)
    x, y = torch.randn(1, 5), torch.tensor([2])
    loss = nn.functional.cross_entropy(net(x, index=torch.tensor([17])), y)
    loss.backward()
    first, last = net.module[0], net.module[3]
    own = turnover_uniforms(torch.tensor([17]), 32, seed=1, layer=0)[0] >= 0.5
    # Units outside row 17's mask get exactly zero gradient, in and out of the hidden layer:
    # the flipped sub-network's weights never see the row (only the shared output bias does).
    assert torch.all(first.weight.grad[~own] == 0) and torch.all(first.bias.grad[~own] == 0)
    assert torch.all(last.weight.grad[:, ~own] == 0)
    assert torch.any(first.weight.grad[own] != 0)


def test_flipped_mask_is_the_complement():
    net = TurnOverDropout(nn.Sequential(nn.Dropout(p=0.1)), p=0.3, seed=0).eval()
    x, index = torch.ones(4, 50), torch.arange(4)
    own, flipped = net(x, index=index), net(x, index=index, flip=True)
    assert torch.all((own > 0) ^ (flipped > 0))  # every unit in exactly one of the two
    # Inverted-dropout scaling: 1/(1 − p) and 1/p. The layer's own p=0.1 is replaced by 0.3.
    np.testing.assert_allclose(own[own > 0], 1 / 0.7, rtol=1e-6)
    np.testing.assert_allclose(flipped[flipped > 0], 1 / 0.3, rtol=1e-6)
    assert torch.equal(net(x), x)  # no index: the full network


def test_module_without_dropout_is_refused():
    with pytest.raises(ValueError, match="no dropout layer"):
        TurnOverDropout(nn.Sequential(nn.Linear(3, 2), nn.ReLU()))
    X, y = np.random.RandomState(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="no dropout layer"):
        TurnOverDropoutScorer(nn.Linear(3, 2), max_epochs=1).fit(X, y)


def test_training_without_indices_is_refused():
    net = TurnOverDropout(mlp(3, 2)).train()
    with pytest.raises(ValueError, match="index"):
        net(torch.ones(2, 3))


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5])
def test_p_outside_open_unit_interval(p):
    X, y = np.random.RandomState(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="'p'"):
        TurnOverDropoutScorer(mlp(3, 2), p=p).fit(X, y)


@pytest.fixture(scope="module")
def noisy_digits(digits):
    X, y = digits
    torch.set_num_threads(1)  # tiny MLP: threads only add contention on shared machines
    X_train, y_train, X_test, y_test = X[:1200], y[:1200], X[1200:1500], y[1200:1500]
    y_noisy, flipped = flip_labels(y_train, 0.1, random_state=0)
    scorer = TurnOverDropoutScorer(mlp(64, 10, width=256), max_epochs=30, random_state=0).fit(
        X_train, y_noisy
    )
    return X_train, y_noisy, flipped, X_test, y_test, scorer


def test_flipped_labels_have_the_largest_self_influence(noisy_digits):
    _, _, flipped, X_test, y_test, scorer = noisy_digits
    # Measured AUPRC 0.94 (30 epochs) / 0.96 (60); random ranking 0.10. The sub-networks
    # fit ~96 % of the clean test rows, so the net is trained, not a random function.
    result = detection_scores(flipped, scorer.scores_)
    assert result.auprc > 0.8 and result.auroc > 0.9
    assert np.mean(scorer.predicted_labels(X_test) == y_test) > 0.85


def test_mislabelled_rows_harm_clean_test_rows(noisy_digits):
    _, y_noisy, flipped, X_test, y_test, scorer = noisy_digits
    infl = scorer.influence(X_test[:30], y_test[:30])
    assert infl.shape == (30, 1200)
    # Kobayashi et al.'s sign: a training row of the test row's class with a clean label
    # helps (positive), a flipped row harms (negative) on average.
    same_class = y_noisy[None, :] == y_test[:30, None]
    assert infl[same_class & ~flipped[None, :]].mean() > 0
    assert infl[:, flipped].mean() < 0
    np.testing.assert_allclose(
        scorer.influence(X_test[:30], y_test[:30], aggregate="sum"), infl.sum(axis=0)
    )


def test_chunks_do_not_change_the_result_and_self_influence_is_the_diagonal(noisy_digits):
    X_train, y_noisy, _, _, _, scorer = noisy_digits
    rows = slice(0, 9)
    big = scorer.influence(X_train[rows], y_noisy[rows])
    scorer.set_params(chunk_size=20)  # 2 training rows per forward block, 9 test rows each
    try:
        small = scorer.influence(X_train[rows], y_noisy[rows])
    finally:
        scorer.set_params(chunk_size=16384)
    np.testing.assert_allclose(small, big, rtol=1e-5, atol=1e-6)  # float32 forward passes
    np.testing.assert_allclose(np.diagonal(big[:, :9]), scorer.scores_[:9], rtol=1e-5, atol=1e-6)


def test_module_factory_and_unseen_labels(wine):
    X, y = wine
    scorer = TurnOverDropoutScorer(mlp, max_epochs=2, random_state=0).fit(X, y)
    assert scorer.estimator_.module_.module[0].in_features == 13
    assert scorer.transform(X[:4]).shape == (4, 1)
    with pytest.raises(ValueError, match="not seen in fit"):
        scorer.influence(X[:2], np.array([0, 7]))


def test_import_skinfluence_does_not_import_torch():
    code = (
        "import sys, skinfluence; assert 'torch' not in sys.modules and 'skorch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
