"""InfluenceScorer on dask arrays: the chunked path equals the in-memory one, stays lazy, and
never brings n rows back to the client."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceScorer
from skinfluence.exceptions import NotAtOptimumWarning

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")

N, P, CHUNK = 1200, 6, 250  # five row chunks, the last one short


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _data(kind, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P)) * np.linspace(0.5, 3, P) + 1.0
    z = X @ rng.normal(size=P) + rng.normal(size=N)
    if kind == "binary":
        y = (z > np.median(z)).astype(int)
    elif kind == "multiclass":
        y = np.digitize(z, np.quantile(z, [0.33, 0.66]))
    else:
        y = z
    return X, y


CASES = {
    "logistic": (lambda: LogisticRegression(C=0.5), "binary", False),
    "logistic-3class": (lambda: LogisticRegression(max_iter=2000), "multiclass", False),
    "logistic-weighted": (
        lambda: LogisticRegression(class_weight={0: 2.0, 1: 1.0}),
        "binary",
        True,
    ),
    "ridge": (lambda: Ridge(alpha=3.0), "regression", True),
    "ols": (lambda: LinearRegression(), "regression", False),
    "ridge-classifier": (lambda: RidgeClassifier(alpha=2.0), "multiclass", False),
    "pipeline": (lambda: make_pipeline(StandardScaler(), LogisticRegression()), "binary", False),
}


def _fitted_pair(name):
    make, kind, weighted = CASES[name]
    X, y = _data(kind)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=N) if weighted else None
    kw = {} if w is None else {"sample_weight": w}
    if name == "pipeline":
        kw = {} if w is None else {"logisticregression__sample_weight": w}
    est = make().fit(X, y, **kw)
    memory = InfluenceScorer(FrozenEstimator(est)).fit(X, y, sample_weight=w)
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    wd = None if w is None else da.from_array(w, chunks=CHUNK)
    remote = InfluenceScorer(FrozenEstimator(est)).fit(Xd, yd, sample_weight=wd)
    return X, y, memory, remote


def _close(a, b, rtol=1e-10):
    scale = max(np.max(np.abs(b)), 1e-300)
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("name", list(CASES))
def test_dask_path_equals_in_memory(client, name):
    X, y, memory, remote = _fitted_pair(name)
    assert isinstance(remote.scores_, da.Array)
    assert remote.scores_.chunks == ((CHUNK,) * 4 + (N - 4 * CHUNK,),)
    _close(remote.scores_.compute(), memory.scores_)
    X_test, y_test = X[:9] + 0.1, y[:9]
    matrix = remote.influence(X_test, y_test)
    assert isinstance(matrix, da.Array) and matrix.shape == (9, N)
    _close(matrix.compute(), memory.influence(X_test, y_test))
    single = remote.influence(X_test, y_test, dtype=np.float32)
    assert single.dtype == np.float32 and single.compute().dtype == np.float32
    for aggregate in ("sum", "mean"):
        total = remote.influence(X_test, y_test, aggregate=aggregate)
        assert isinstance(total, da.Array) and total.shape == (N,)
        _close(total.compute(), memory.influence(X_test, y_test, aggregate=aggregate))
    # score_samples of new rows, dask or not
    Xd_new = da.from_array(X_test, chunks=4)
    _close(remote.score_samples(Xd_new, y_test).compute(), memory.score_samples(X_test, y_test))
    _close(remote.score_samples(X_test, y_test), memory.score_samples(X_test, y_test))
    np.testing.assert_allclose(remote.train_weights_.compute(), memory.train_weights_)


def test_explain_on_dask_matches_in_memory(client):
    X, y, memory, remote = _fitted_pair("logistic")
    ours, theirs = remote.explain(X[:4], y[:4], k=6), memory.explain(X[:4], y[:4], k=6)
    for key in ("helpful_indices", "harmful_indices"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    for key in ("helpful_influence", "harmful_influence"):
        assert isinstance(ours[key], np.ndarray)
        _close(ours[key], theirs[key])
    # k larger than a chunk: each chunk's top k is padded with rows that never win
    est = FrozenEstimator(LogisticRegression().fit(X[:40], y[:40]))
    small = InfluenceScorer(est).fit(da.from_array(X[:40], chunks=(6, P)), y[:40])
    ours, theirs = small.explain(X[:3], y[:3], k=8), InfluenceScorer(est).fit(X[:40], y[:40])
    theirs = theirs.explain(X[:3], y[:3], k=8)
    for key in ("helpful_indices", "harmful_indices"):
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_dask_test_set_aggregate(client):
    """A large test set given as a dask array: its gradient sum is reduced on the workers."""
    X, y, memory, remote = _fitted_pair("ridge")
    Xt = da.from_array(X[:500], chunks=(120, P))
    yt = da.from_array(y[:500], chunks=120)
    _close(
        remote.influence(Xt, yt, aggregate="mean").compute(),
        memory.influence(X[:500], y[:500], aggregate="mean"),
    )


def test_dask_dataframe_input(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _data("binary")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(P)])
    est = LogisticRegression().fit(frame, y)
    memory = InfluenceScorer(FrozenEstimator(est)).fit(frame, y)
    frame["label"] = y
    ddf = dd.from_pandas(frame, npartitions=4)
    remote = InfluenceScorer(FrozenEstimator(est)).fit(ddf.drop(columns="label"), ddf["label"])
    assert list(remote.feature_names_in_) == [f"f{j}" for j in range(P)]
    _close(remote.scores_.compute(), memory.scores_)
    test = frame.drop(columns="label").iloc[:5]
    _close(remote.influence(test, y[:5]).compute(), memory.influence(test, y[:5]))


class _GatherRecorder:
    """Records the row count of every array a Client.gather brings back to the client."""

    def __init__(self, monkeypatch):
        self.rows = []
        original = distributed.Client.gather

        def gather(client_self, futures, *args, **kwargs):
            result = original(client_self, futures, *args, **kwargs)
            self._walk(result)
            return result

        monkeypatch.setattr(distributed.Client, "gather", gather)

    def _walk(self, obj):
        if isinstance(obj, np.ndarray):
            self.rows.append(obj.shape[0] if obj.ndim else 1)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                self._walk(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                self._walk(item)


def _lazy_data(n, chunk):
    """X and y generated on the workers: nothing n-sized exists on the client."""
    rng = da.random.default_rng(0)
    X = rng.standard_normal((n, P), chunks=(chunk, P))
    y = (X @ np.linspace(-1, 1, P) + rng.standard_normal(n, chunks=chunk) > 0).astype(int)
    return X, y


def test_client_never_holds_n_rows(client, monkeypatch):
    n = 4000
    X, y = _lazy_data(n, 500)
    recorder = _GatherRecorder(monkeypatch)
    # The recorder sees what compute brings back: gathering X records its n rows.
    X[:5].compute()
    assert recorder.rows == [5]
    y.compute()
    assert max(recorder.rows) == n
    recorder.rows.clear()

    # Prefitted on a sample, then refined on all rows (Newton passes): only p-sized results.
    sample = LogisticRegression().fit(X[:300].compute(), y[:300].compute())
    recorder.rows.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotAtOptimumWarning)
        scorer = InfluenceScorer(FrozenEstimator(sample)).fit(X, y)
    refined = InfluenceScorer(LogisticRegression()).fit(X, y)
    matrix = refined.influence(np.ones((3, P)), np.array([0, 1, 1]))
    total = scorer.influence(X[:50], y[:50], aggregate="sum")
    helpful = refined.explain(np.ones((2, P)), np.array([0, 1]), k=3)
    assert helpful.helpful_indices.shape == (2, 3)
    assert recorder.rows, "fit reduces the Hessian on the cluster"
    # O(p²) reductions, and the first chunk (500 rows) that the unfitted model starts from
    p = refined.adapter_.n_params
    assert max(recorder.rows) <= max(p * p * 2 + p, 500) < n, recorder.rows
    assert recorder.rows.count(500) == 2, recorder.rows  # its X and y
    # Lazy results, computed only when asked for
    assert isinstance(scorer.scores_, da.Array) and isinstance(matrix, da.Array)
    assert isinstance(total, da.Array)
    assert scorer.scores_.shape == (n,) and matrix.shape == (3, n)


@pytest.mark.parametrize("make", [Ridge, LinearRegression, LogisticRegression])
def test_unfitted_estimator_is_refined_to_the_full_data_optimum(client, make):
    """An unfitted estimator starts from its fit on the first chunk; Newton passes on all
    rows reach the optimum that sklearn's fit on all rows reaches (exact solver, tight tol)."""
    kind = "binary" if make is LogisticRegression else "regression"
    X, y = _data(kind)
    remote = InfluenceScorer(make()).fit(
        da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    )
    exact = make(tol=1e-12, max_iter=10_000) if make is LogisticRegression else make()
    exact.fit(X, y)
    np.testing.assert_allclose(remote.estimator_.coef_.ravel(), exact.coef_.ravel(), atol=1e-7)
    assert remote._dask.n_newton_passes <= 8
    memory = InfluenceScorer(FrozenEstimator(exact)).fit(X, y)
    np.testing.assert_allclose(remote.scores_.compute(), memory.scores_, rtol=1e-5)
    # the estimator the user passed is not modified
    assert not hasattr(make(), "coef_")


def test_prefit_on_a_sample_warns(client):
    X, y = _data("binary")
    sample = LogisticRegression().fit(X[:200], y[:200])
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    with pytest.warns(NotAtOptimumWarning, match="leave-one-out step"):
        InfluenceScorer(FrozenEstimator(sample)).fit(Xd, yd)
    at_optimum = LogisticRegression(tol=1e-10, max_iter=1000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotAtOptimumWarning)
        scorer = InfluenceScorer(FrozenEstimator(at_optimum)).fit(Xd, yd)
    assert scorer._dask.stationarity < 1.0


def test_dask_input_errors(client):
    X, y = _data("regression")
    Xd, yd = da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)
    with pytest.raises(ValueError, match="method='direct'"):
        InfluenceScorer(Ridge(), method="cg").fit(Xd, yd)
    with pytest.raises(ValueError, match="newton_step"):
        InfluenceScorer(Ridge(), newton_step=True).fit(Xd, yd)
    with pytest.raises(TypeError, match="linear models"):
        InfluenceScorer(FrozenEstimator(PoissonRegressor().fit(X, np.exp(y / 10)))).fit(Xd, yd)
    with pytest.raises(ValueError, match="balanced"):
        InfluenceScorer(LogisticRegression(class_weight="balanced")).fit(Xd, yd > 0)
    with pytest.raises(ValueError, match="expected"):
        InfluenceScorer(Ridge()).fit(Xd, yd[:-1])
    scorer = InfluenceScorer(Ridge()).fit(Xd, yd)
    with pytest.raises(ValueError, match="out is not available"):
        scorer.influence(X[:2], y[:2], out=np.empty((2, N)))
    # score_samples of dask rows, for a scorer fitted in memory
    memory = InfluenceScorer(Ridge()).fit(X, y)
    _close(memory.score_samples(Xd[:300], yd[:300]).compute(), memory.scores_[:300])
    newton = InfluenceScorer(Ridge(), newton_step=True).fit(X, y)
    with pytest.raises(TypeError, match="method='direct'"):
        newton.score_samples(Xd, yd)


def test_import_does_not_import_dask():
    """Neither importing skinfluence nor fitting on NumPy input imports dask."""
    code = (
        "import sys, numpy as np\n"
        "from sklearn.linear_model import Ridge\n"
        "from skinfluence import InfluenceScorer\n"
        "X = np.random.default_rng(0).normal(size=(30, 3))\n"
        "InfluenceScorer(Ridge()).fit(X, X[:, 0]).influence(X[:2], X[:2, 0])\n"
        "assert 'dask' not in sys.modules, 'dask imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sparse_chunks(client):
    """A dask array of scipy CSR chunks (e.g. TF-IDF rows): the sparse in-memory path's results."""
    sp = pytest.importorskip("scipy.sparse")
    Xs = sp.random(1000, 30, density=0.1, format="csr", random_state=0)
    y = (Xs @ np.ones(30) + np.random.default_rng(0).normal(size=1000) > 1.5).astype(int)
    est = FrozenEstimator(LogisticRegression().fit(Xs, y))
    memory = InfluenceScorer(est).fit(Xs, y)
    remote = InfluenceScorer(est).fit(da.from_array(Xs, chunks=(300, 30), asarray=False), y)
    _close(remote.scores_.compute(), memory.scores_)
    _close(remote.influence(Xs[:4], y[:4]).compute(), memory.influence(Xs[:4], y[:4]))
