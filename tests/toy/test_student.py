"""PerceptronStudent: exact max-margin solution, and the logistic variant's influence
against actual leave-one-out retraining."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.models import adapter_for
from skinfluence.toy import (
    NotSeparableWarning,
    PerceptronStudent,
    PerceptronStudentAdapter,
    make_teacher_student,
)


@pytest.fixture(scope="module")
def toy():
    return make_teacher_student(300, 30, random_state=0)


def test_max_margin_is_the_hard_margin_svm(toy):
    X, y, _ = toy
    student = PerceptronStudent().fit(X, y)
    w = student.coef_.ravel()
    t = np.where(y == student.classes_[1], 1.0, -1.0)
    functional = t * (X @ w)
    # KKT of min ‖w‖ s.t. t x·w ≥ 1: every constraint holds, the tightest are active, and
    # w is a non-negative combination of the active rows (1e-8: NNLS is exact to rounding).
    assert functional.min() == pytest.approx(1.0, abs=1e-8)
    active = functional < 1 + 1e-8
    coeffs, *_ = np.linalg.lstsq((X[active] * t[active, None]).T, w, rcond=None)
    assert np.all(coeffs > -1e-8)
    np.testing.assert_allclose((X[active] * t[active, None]).T @ coeffs, w, atol=1e-8)
    # An independent solver: liblinear's soft margin with a huge C reaches the same direction.
    svm = LinearSVC(C=1e4, loss="hinge", fit_intercept=False, tol=1e-10, max_iter=200_000)
    w_svm = svm.fit(X, t).coef_.ravel()
    assert w @ w_svm / np.linalg.norm(w) / np.linalg.norm(w_svm) > 1 - 1e-6
    assert student.margin_ == pytest.approx(1.0 / np.linalg.norm(w), rel=1e-8)
    assert student.score(X, y) == 1.0


def test_zero_weight_is_removal_for_the_hard_margin(toy):
    X, y, _ = toy
    sw = np.ones(len(y))
    sw[:50] = 0.0
    a = PerceptronStudent().fit(X, y, sample_weight=sw).coef_
    b = PerceptronStudent().fit(X[50:], y[50:]).coef_
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_not_separable_warns_and_fits_a_soft_margin():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((80, 3))
    y = rng.randint(0, 2, 80)  # random labels, 80 rows in 3 dimensions: not separable
    with pytest.warns(NotSeparableWarning, match="not linearly separable"):
        student = PerceptronStudent().fit(X, y)
    assert student.C_ == 1.0
    assert np.all(np.isfinite(student.coef_))


def test_needs_two_classes():
    X = np.random.RandomState(0).standard_normal((9, 2))
    with pytest.raises(ValueError, match="binary"):
        PerceptronStudent().fit(X, np.arange(9) % 3)


def test_logistic_direction_tends_to_max_margin(toy):
    # Rosset, Zhu & Hastie 2004: on separable data the l2-logistic direction converges to
    # the max-margin one as C → ∞. Monotone approach, and close at C = 1e4.
    X, y, _ = toy
    w_mm = PerceptronStudent().fit(X, y).coef_.ravel()
    cosines = []
    for C in [0.01, 1.0, 1e4]:
        w = PerceptronStudent(loss="logistic", C=C).fit(X, y).coef_.ravel()
        cosines.append(w @ w_mm / np.linalg.norm(w) / np.linalg.norm(w_mm))
    assert cosines[0] < cosines[1] < cosines[2]
    assert cosines[2] > 0.99


def test_adapter_only_for_the_smooth_variant(toy):
    X, y, _ = toy
    adapter = adapter_for(PerceptronStudent(loss="logistic").fit(X, y))
    assert isinstance(adapter, PerceptronStudentAdapter)
    assert adapter.n_params == X.shape[1]
    with pytest.raises(TypeError, match="not twice differentiable"):
        adapter_for(PerceptronStudent().fit(X, y))


def test_adapter_hessian_against_finite_differences(toy):
    # The objective J(w) = Σ log(1 + e^{−t w·x}) + ‖w‖²/(2C): its Hessian by central
    # differences of the analytic gradient (error O(h²) ≈ 1e-8 relative).
    X, y, _ = toy
    C = 0.5
    student = PerceptronStudent(loss="logistic", C=C).fit(X, y)
    adapter = adapter_for(student)
    t = np.where(y == student.classes_[1], 1.0, -1.0)
    w0 = student.coef_.ravel()

    def grad(w):
        return -(X * (t * (1 - 1 / (1 + np.exp(-t * (X @ w)))))[:, None]).sum(0) + w / C

    h = 1e-5
    fd = np.column_stack([(grad(w0 + h * e) - grad(w0 - h * e)) / (2 * h) for e in np.eye(30)])
    np.testing.assert_allclose(adapter.hessian(X, y), fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad(w0), 0.0, atol=1e-6)  # fitted to the optimum


def test_influence_matches_leave_one_out(toy):
    # Ground truth: actual retraining. The Newton step leaves third-order terms of the
    # removed row's effect (largest for the few high-leverage rows): measured max error 5%
    # of the largest |influence| at n = 60, p = 5, so the bar is 10%; the overall agreement
    # must be near perfect (Pearson > 0.999, as the foundation's logistic tests ask 0.99).
    X, y, _ = toy
    X, y = X[:60, :5], y[:60]
    X_test, y_test = toy[0][200:240, :5], toy[1][200:240]
    student = PerceptronStudent(loss="logistic", C=1.0)
    approx = InfluenceScorer(student, newton_step=True).fit(X, y)
    exact = LeaveOneOutScorer(student).fit(X, y)
    infl_approx = approx.influence(X_test, y_test)
    infl_exact = exact.influence(X_test, y_test)
    scale = np.abs(infl_exact).max()
    assert np.abs(infl_approx - infl_exact).max() < 0.1 * scale
    assert np.corrcoef(infl_approx.ravel(), infl_exact.ravel())[0, 1] > 0.999
    assert np.corrcoef(approx.scores_, exact.scores_)[0, 1] > 0.99


def test_influence_equals_the_logistic_regression_path(toy):
    # The adapter is the binary logistic GLM: on the same objective (no intercept, same C)
    # InfluenceScorer must give LogisticRegression's numbers up to the solvers' tolerance.
    X, y, _ = toy
    X, y = X[:100, :8], y[:100]
    student = PerceptronStudent(loss="logistic", C=0.3, tol=1e-12)
    glm = LogisticRegression(C=0.3, fit_intercept=False, solver="newton-cholesky", tol=1e-12)
    a = InfluenceScorer(student).fit(X, y).influence(X[:10], y[:10])
    b = InfluenceScorer(glm).fit(X, y).influence(X[:10], y[:10])
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-10)


def test_no_warning_on_separable_data(toy):
    X, y, _ = toy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PerceptronStudent().fit(X, y)
