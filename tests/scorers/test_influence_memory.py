"""InfluenceScorer never forms the n_train × p gradient matrix: memory measured with tracemalloc.

numpy reports every array buffer to tracemalloc, so the traced peak during a call, above the
traced level before it, is the extra memory the call needed (the training data, which the
fitted scorer stores, is allocated before and not counted). A materialised gradient matrix
would alone take n_train × p × 8 bytes.
"""

import tracemalloc

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skinfluence import InfluenceScorer
from skinfluence.scorers._influence import DEFAULT_CHUNK_BYTES, MIN_DEFAULT_CHUNK

N_TRAIN, N_FEATURES, N_TEST = 200_000, 50, 10
MB = 2**20


def _default_chunk(n_params):
    """InfluenceScorer's default rows per chunk: a 1 MiB block of dense gradients."""
    return max(MIN_DEFAULT_CHUNK, DEFAULT_CHUNK_BYTES // (8 * n_params))


def _problem(n, p, m, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((p, n_classes)) / np.sqrt(p)
    X = rng.standard_normal((n + m, p))
    y = np.argmax(X @ W + rng.gumbel(size=(n + m, n_classes)), axis=1)
    # The model is fitted on a subsample: memory does not depend on how well it is fitted,
    # and fitting on all rows would dominate the test's time.
    model = LogisticRegression(C=1.0).fit(X[:5000], y[:5000])
    return X[:n], y[:n], X[n:], y[n:], model


def _traced_peak(fn):
    """(result, bytes of traced memory at the peak of ``fn()`` above the level before it)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak - before


def _working_bound(n_params, n_train):
    """What the chunked computation may hold besides its result, in bytes.

    With ``chunk`` the default rows per chunk (2 570 for p = 51): a chunk of dense gradient
    rows, its product with a p × p or p × k matrix and transient copies of the features
    (≤ 6 chunk × p blocks, i.e. 6 MiB), the chunk's outputs, residuals,
    curvatures and label codes (≤ 8 chunk-length vectors per output), plus 4 vectors of
    length n_train (row weights, per-row results) and 2 MB of small objects. For
    n_train = 200 000, p = 51 that is 14.6 MiB, under a fifth of the 77.8 MiB gradient
    matrix, and only its n_train term grows with n_train.
    """
    chunk = _default_chunk(n_params)
    return 8 * (6 * chunk * n_params + 8 * chunk * 3 + 4 * n_train) + 2 * MB


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    # Memory does not depend on threads; on a busy 2-core machine, two-thread BLAS calls
    # wait for each other for seconds, so one thread keeps this module fast.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def fitted(one_blas_thread):
    X, y, Xt, yt, model = _problem(N_TRAIN, N_FEATURES, N_TEST)
    scorer = InfluenceScorer(FrozenEstimator(model)).fit(X, y)
    return scorer, X, y, Xt, yt, model


def test_influence_memory_far_below_gradient_matrix(fitted):
    scorer, X, y, Xt, yt, _ = fitted
    infl, extra = _traced_peak(lambda: scorer.influence(Xt, yt))
    # Measured: 17.4 MiB, of which 15.3 MiB is the result (n_test × n_train × 8 bytes).
    result_bytes = infl.nbytes
    gradient_matrix = N_TRAIN * (N_FEATURES + 1) * 8  # 81.6 MB
    bound = result_bytes + _working_bound(N_FEATURES + 1, N_TRAIN)
    assert extra <= bound, (extra / MB, bound / MB)
    assert extra - result_bytes < gradient_matrix / 10, (extra / MB, gradient_matrix / MB)

    # The chunked result is the influence itself, not just small: compare a few columns
    # with w_i g_tᵀ H⁻¹ g_i from explicitly formed gradients (H⁻¹ from the dense Hessian).
    # (The solver itself is checked against a dense inverse in test_influence.py; this
    # checks that the chunked assembly puts the right numbers in the right places.)
    rows = np.array([0, 1, 77_777, N_TRAIN - 1])
    G_rows = scorer.adapter_.gradients(X[rows], y[rows]).dense_rows(slice(None))
    G_test = scorer.adapter_.gradients(Xt, yt).dense_rows(slice(None))
    expected = G_test @ scorer.solver_.solve(G_rows.T)
    # Both sides are exact up to rounding in a well-conditioned 51 × 51 system: 1e-8 leaves
    # many orders of magnitude of room while catching any wrong row, sign or scale.
    np.testing.assert_allclose(infl[:, rows], expected, rtol=1e-8, atol=1e-12)


def test_aggregate_influence_memory(fitted):
    scorer, _, _, Xt, yt, _ = fitted
    total, extra = _traced_peak(lambda: scorer.influence(Xt, yt, aggregate="sum"))
    assert total.shape == (N_TRAIN,)
    assert extra <= _working_bound(N_FEATURES + 1, N_TRAIN) + total.nbytes, extra / MB


def test_self_influence_memory(fitted):
    scorer, X, y, *_ = fitted
    scores, extra = _traced_peak(lambda: scorer.score_samples(X, y))
    # score_samples on the training rows is the self-influence computed in fit.
    np.testing.assert_allclose(scores, scorer.scores_, rtol=1e-12)
    p = N_FEATURES + 1
    # Besides the chunk blocks: H⁻¹ (p × p, cached by fit) and its result (n_train doubles).
    # Measured: 6.2 MiB, 8 % of the gradient matrix.
    bound = _working_bound(p, N_TRAIN) + 8 * (2 * p * p + N_TRAIN)
    assert extra <= bound, (extra / MB, bound / MB)
    assert extra < N_TRAIN * p * 8 / 5


def test_fit_memory_excluding_training_data(fitted):
    # fit = Hessian (by row blocks) + Cholesky + self-influence; its extra memory is O(n + p²
    # + chunk · p), not O(n p). Measured: 7.6 MiB, 10 % of the gradient matrix.
    _, X, y, _, _, model = fitted
    scorer = InfluenceScorer(FrozenEstimator(model))
    _, extra = _traced_peak(lambda: scorer.fit(X, y))
    p = N_FEATURES + 1
    # The Hessian's per-row curvature terms hold ~8 vectors of length n at once.
    bound = _working_bound(p, N_TRAIN) + 8 * (8 * N_TRAIN + 4 * p * p)
    assert extra <= bound, (extra / MB, bound / MB)
    assert extra < N_TRAIN * p * 8 / 4


@pytest.mark.slow
@pytest.mark.parametrize("n_classes", [2, 3])
def test_influence_memory_pipeline_and_multinomial(n_classes):
    # A Pipeline's feature map is applied chunk by chunk (its transformed training set,
    # n × p, is never held during `influence`); with K outputs the gradient rows have
    # K (p + 1) entries and the bound scales with them.
    n = 500_000
    X, y, Xt, yt, _ = _problem(n, N_FEATURES, N_TEST, n_classes=n_classes, seed=2)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(X[:5000], y[:5000])
    scorer = InfluenceScorer(FrozenEstimator(model)).fit(X, y)
    infl, extra = _traced_peak(lambda: scorer.influence(Xt, yt))
    K = 1 if n_classes == 2 else n_classes
    p = K * (N_FEATURES + 1)
    bound = infl.nbytes + _working_bound(p, n) + 8 * _default_chunk(p) * N_FEATURES * 2
    assert extra <= bound, (extra / MB, bound / MB)
    assert extra - infl.nbytes < n * p * 8 / 10
