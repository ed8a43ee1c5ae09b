"""The in-place helpers the Hessians and their inverses are assembled with."""

import numpy as np
import pytest

from skinfluence._utils._symmetric import add_to_diagonal, mirror_triangle


@pytest.mark.parametrize("p", [1, 2, 21, 511, 512, 513, 1100])
@pytest.mark.parametrize("lower", [False, True])
def test_mirror_triangle_equals_the_triangle_and_its_transpose(p, lower):
    rng = np.random.default_rng(p)
    A = rng.standard_normal((p, p))
    tri = np.tril(A) if lower else np.triu(A)
    expected = tri + (np.tril(A, -1).T if lower else np.triu(A, 1).T)
    out = mirror_triangle(A, lower=lower)
    assert out is A
    np.testing.assert_array_equal(A, expected)
    np.testing.assert_array_equal(A, A.T)


def test_mirror_triangle_on_a_fortran_array():
    A = np.asfortranarray(np.arange(16.0).reshape(4, 4))
    expected = np.triu(A) + np.triu(A, 1).T
    np.testing.assert_array_equal(mirror_triangle(A), expected)


@pytest.mark.parametrize("order", ["C", "F"])
def test_add_to_diagonal(order):
    A = np.asarray(np.arange(9.0).reshape(3, 3), order=order)
    expected = A + np.diag([1.0, 2.0, 3.0])
    assert add_to_diagonal(A, np.array([1.0, 2.0, 3.0])) is A
    np.testing.assert_array_equal(A, expected)
    add_to_diagonal(A, 0.5)
    np.testing.assert_array_equal(np.diag(A), np.diag(expected) + 0.5)


def test_add_to_diagonal_of_a_view_leaves_the_rest():
    big = np.zeros((5, 5))
    add_to_diagonal(big[1:4, 1:4], 1.0)
    np.testing.assert_array_equal(big, np.diag([0.0, 1.0, 1.0, 1.0, 0.0]))


def test_direct_solver_refuses_an_overflowing_hessian():
    from sklearn.linear_model import Ridge

    from skinfluence.inverse import DirectSolver
    from skinfluence.models import adapter_for

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
    adapter = adapter_for(Ridge().fit(X, y))
    with (
        np.errstate(over="ignore", invalid="ignore"),
        pytest.raises(ValueError, match="non-finite"),
    ):
        DirectSolver().fit(adapter, X * 1e200, y)
