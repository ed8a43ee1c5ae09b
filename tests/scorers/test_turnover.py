"""Turn-over dropout: masks, the sub-network property, the skorch-net API, and mislabel
detection on digits."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from skorch import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402
from torch import nn  # noqa: E402

from skinfluence import TurnOverDropoutScorer  # noqa: E402
from skinfluence.datasets import flip_labels  # noqa: E402
from skinfluence.metrics import detection_scores  # noqa: E402
from skinfluence.torch import TurnOverDropout, dropout_mlp, turnover_uniforms  # noqa: E402


def mlp(n_features, n_classes, width=64):
    return dropout_mlp(n_features, n_classes, hidden=(width,))


def dropout_net(n_features, n_classes, width=64, **params):
    """The net the scorer's tests train: ``dropout_mlp`` through skorch's ``module__``
    parameters, Adam at lr 1e-3 on shuffled batches of 64 (the scorer's former defaults)."""
    settings = {
        "module__n_features": n_features,
        "module__n_classes": n_classes,
        "module__hidden": (width,),
        "criterion": nn.CrossEntropyLoss,
        "optimizer": torch.optim.Adam,
        "lr": 1e-3,
        "batch_size": 64,
        "iterator_train__shuffle": True,
        "verbose": 0,
        **params,
    }
    return NeuralNetClassifier(dropout_mlp, **settings)


class MLP(nn.Module):
    """skorch's convention: every ``__init__`` argument has a default (no positional ones)."""

    def __init__(self, hidden=16):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(4, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, 3)
        )

    def forward(self, X):
        return self.layers(X)


class SoftmaxMLP(MLP):
    """The same network returning probabilities, for skorch's default criterion NLLLoss."""

    def forward(self, X):
        return torch.softmax(self.layers(X), dim=-1)


class NoDropoutMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, X):
        return self.layers(X)


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


def test_net_whose_module_has_no_dropout_is_refused(iris):
    X, y = iris
    net = NeuralNetClassifier(NoDropoutMLP, max_epochs=50, verbose=0)
    with pytest.raises(ValueError, match=r"NoDropoutMLP has no dropout layer.*nn\.Dropout"):
        TurnOverDropoutScorer(net).fit(X, y)


def test_training_without_indices_is_refused():
    net = TurnOverDropout(mlp(3, 2)).train()
    with pytest.raises(ValueError, match="index"):
        net(torch.ones(2, 3))


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5])
def test_p_outside_open_unit_interval(p):
    X, y = np.random.RandomState(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="'p'"):
        TurnOverDropoutScorer(dropout_net(3, 2), p=p).fit(X, y)


@pytest.fixture(scope="module")
def noisy_digits(digits):
    X, y = digits
    torch.set_num_threads(1)  # tiny MLP: threads only add contention on shared machines
    X_train, y_train, X_test, y_test = X[:1200], y[:1200], X[1200:1500], y[1200:1500]
    y_noisy, flipped = flip_labels(y_train, 0.1, random_state=0)
    net = dropout_net(64, 10, width=256, max_epochs=30)
    scorer = TurnOverDropoutScorer(net, random_state=0).fit(X_train, y_noisy)
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


def test_module_built_from_module_params_and_unseen_labels(wine):
    X, y = wine
    scorer = TurnOverDropoutScorer(dropout_net(13, 3, max_epochs=2), random_state=0).fit(X, y)
    assert isinstance(scorer.estimator_.module_, TurnOverDropout)
    assert scorer.estimator_.module_.module[0].in_features == 13
    assert scorer.transform(X[:4]).shape == (4, 1)
    with pytest.raises(ValueError, match="not seen in fit"):
        scorer.influence(X[:2], np.array([0, 7]))


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def test_module_class_with_no_argument_init(iris):
    """skorch's convention, a module class whose arguments all have defaults, built with
    ``module__`` parameters: it used to fail with "MLP.__init__() takes 1 positional
    argument but 3 were given"."""
    X, y = iris
    net = NeuralNetClassifier(
        MLP, module__hidden=8, criterion=nn.CrossEntropyLoss, max_epochs=3, lr=0.05, verbose=0
    )
    scorer = TurnOverDropoutScorer(net, random_state=0).fit(X, y)
    inner = scorer.estimator_.module_.module
    assert isinstance(inner, MLP) and inner.layers[0].out_features == 8  # module__hidden used
    assert scorer.scores_.shape == (150,) and np.all(np.isfinite(scorer.scores_))
    assert np.isin(scorer.predicted_labels(X), [0, 1, 2]).all()
    # The net passed in is untouched: still the class and its settings, never initialised.
    assert net.module is MLP and net.module__hidden == 8 and not hasattr(net, "module_")
    assert net.train_split is not None  # the scorer's clone trains on every row instead
    assert scorer.estimator_.train_split is None


def test_the_nets_own_training_settings_are_used(iris):
    X, y = iris
    net = NeuralNetClassifier(
        MLP,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        lr=0.05,
        max_epochs=4,
        batch_size=32,
        verbose=0,
    )
    scorer = TurnOverDropoutScorer(net, random_state=0).fit(X, y)
    fitted = scorer.estimator_
    assert len(fitted.history) == 4  # max_epochs
    assert len(fitted.history[-1, "batches"]) == 5  # ceil(150 / 32)
    assert isinstance(fitted.optimizer_, torch.optim.SGD)
    assert fitted.optimizer_.param_groups[0]["momentum"] == 0.9


def test_module_instance_is_copied_not_modified(iris):
    X, y = iris
    module = MLP(hidden=8)
    net = NeuralNetClassifier(module, criterion=nn.CrossEntropyLoss, max_epochs=2, verbose=0)
    scorer = TurnOverDropoutScorer(net, random_state=0).fit(X, y)
    assert isinstance(module.layers[2], nn.Dropout)  # the user's dropout layer is still there
    assert scorer.estimator_.module_.module is not module


def test_criterion_of_the_net_is_the_loss_scored(iris):
    """skorch's default NLLLoss on probabilities, as skorch computes it (log of the module's
    output), scores the same as CrossEntropyLoss on the logits of the same network."""
    X, y = iris
    params = {"max_epochs": 3, "lr": 0.05, "verbose": 0}
    logits = TurnOverDropoutScorer(
        NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, **params), random_state=0
    ).fit(X, y)
    probabilities = TurnOverDropoutScorer(
        NeuralNetClassifier(SoftmaxMLP, **params), random_state=0
    ).fit(X, y)
    # Same initialisation and batches; log(softmax + eps) differs from log_softmax by at most
    # eps/p ~ 1e-6 per step (float32), far below the scores' own size (~0.1-1).
    np.testing.assert_allclose(probabilities.scores_, logits.scores_, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(
        probabilities.score_samples(X[:5], y[:5]), logits.score_samples(X[:5], y[:5]), rtol=1e-3
    )


def test_what_is_not_a_skorch_classifier_is_refused(iris):
    X, y = iris
    with pytest.raises(TypeError, match=r"must be a skorch\.NeuralNetClassifier.*got Logistic"):
        TurnOverDropoutScorer(LogisticRegression()).fit(X, y)
    with pytest.raises(TypeError, match=r"classification only.*NeuralNetRegressor"):
        TurnOverDropoutScorer(NeuralNetRegressor(MLP)).fit(X, y.astype(np.float32))
    fitted = NeuralNetClassifier(MLP, max_epochs=1, verbose=0, train_split=None)
    fitted.fit(X.astype(np.float32), y)
    with pytest.raises(TypeError, match="not a FrozenEstimator"):
        TurnOverDropoutScorer(FrozenEstimator(fitted)).fit(X, y)


def test_output_size_must_match_the_classes(iris):
    X, y = iris
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"outputs of shape \(100, 3\) for 2 classes"):
        TurnOverDropoutScorer(net).fit(X[:100], y[:100])  # classes 0 and 1 only


def test_seeded_and_leaves_the_global_torch_generator_alone(iris):
    X, y = iris
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, max_epochs=2, verbose=0)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = TurnOverDropoutScorer(net, random_state=0).fit(X, y)
    assert torch.equal(torch.rand(3), expected)  # the fit drew from a forked generator
    again = TurnOverDropoutScorer(net, random_state=0).fit(X, y)
    np.testing.assert_array_equal(first.scores_, again.scores_)
    other = TurnOverDropoutScorer(net, random_state=1).fit(X, y)
    assert not np.allclose(first.scores_, other.scores_)


def test_missing_torch_names_the_extra(monkeypatch, iris):
    X, y = iris
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(ImportError, match=r"pip install skinfluence\[torch\]"):
        TurnOverDropoutScorer(LogisticRegression()).fit(X, y)


def test_import_skinfluence_does_not_import_torch():
    code = (
        "import sys, skinfluence; assert 'torch' not in sys.modules and 'skorch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_label_free_scores_of_a_dataframe_validate_it_once(iris):
    """``score_samples(X)`` without labels validated X twice and warned that it had lost the
    feature names it was fitted with."""
    import warnings

    pd = pytest.importorskip("pandas")
    X, y = iris
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, max_epochs=2, verbose=0)
    scorer = TurnOverDropoutScorer(net, random_state=0).fit(df, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unlabelled = scorer.score_samples(df.iloc[:10])
    labels = scorer.predicted_labels(df.iloc[:10])
    np.testing.assert_allclose(unlabelled, scorer.score_samples(df.iloc[:10], labels))
