"""The audit's data checks find planted problems exactly, and nothing on clean data."""

import numpy as np
import pytest

from skinfluence import audit
from skinfluence._audit._checks import run_checks
from skinfluence._audit._data import as_audit_data


def _clean(n=300, p=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, p))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _checks(X, y, ids=None):
    data = as_audit_data(X, y, ids=ids)
    return {c.name: c for c in run_checks(np.asarray(X, dtype=float), data)}


def test_clean_gaussian_data_raises_no_check():
    X, y = _clean()
    assert _checks(X, y) == {}


def test_planted_duplicates_conflicts_near_duplicates_outliers_and_small_class():
    X, y = _clean()
    rng = np.random.RandomState(1)
    extra_X, extra_y = [], []
    extra_X.append(X[10]), extra_y.append(y[10])  # 300: exact duplicate of row 10
    extra_X.append(X[20]), extra_y.append(1 - y[20])  # 301: conflict with row 20
    extra_X.append(X[30] + 1e-4 * rng.normal(size=5)), extra_y.append(y[30])  # 302 ~ 30
    extra_X.append(X[40] + 1e-4 * rng.normal(size=5)), extra_y.append(1 - y[40])  # 303 ~ 40
    extra_X.append(np.full(5, 40.0)), extra_y.append(0)  # 304: far from everything
    for _ in range(3):  # 305-307: a class of 3 rows, among ordinary points
        extra_X.append(rng.normal(size=5)), extra_y.append(2)
    X = np.vstack([X, extra_X])
    y = np.concatenate([y, extra_y])
    found = _checks(X, y)
    assert set(found) == {"duplicates", "conflicts", "near duplicates", "outliers", "small classes"}
    assert found["duplicates"].groups == [[10, 300]]
    assert found["conflicts"].groups == [[20, 301]]
    assert found["near duplicates"].groups == [[30, 302], [40, 303]]
    assert "1 with different labels" in found["near duplicates"].message
    assert found["outliers"].rows.tolist() == [304]
    assert found["small classes"].rows.tolist() == [305, 306, 307]
    # The rows' reasons carry the finding; the conflict's other copy is named.
    result = audit(X, y, scorers=["oof", "forest"])
    assert result.reason[301].endswith(f"same features as row 20 ({y[20]}) with another label")
    assert "near duplicate of row 30" in result.reason[302]
    assert "feature-space outlier" in result.reason[304]
    assert {c.name for c in result.checks} == set(found)
    assert "data check, conflicts" in result.summary()


def test_id_like_feature_column():
    X, y = _clean()
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame.insert(0, "customer_no", np.arange(1000, 1000 + len(y)))
    found = _checks(frame, y)
    assert list(found) == ["id-like columns"]
    assert found["id-like columns"].columns == ["customer_no"]
    # Distinct integers that do not count up the rows (a shuffled score) are not an id.
    frame["customer_no"] = np.random.RandomState(0).permutation(len(y)) * 7
    assert _checks(frame, y) == {}
