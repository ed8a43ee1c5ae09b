"""Teacher-student data and probes."""

import numpy as np
import pytest

from skinfluence.toy import make_probe, make_teacher_student


def test_labels_come_from_the_teacher():
    X, y, teacher = make_teacher_student(500, 40, random_state=0)
    assert X.shape == (500, 40) and y.shape == (500,)
    assert np.linalg.norm(teacher) == pytest.approx(1.0)
    np.testing.assert_array_equal(y, np.where(X @ teacher >= 0, 1, -1))
    # Same seed, same data; a symmetric teacher: about half of each label (binomial, 5 SD).
    np.testing.assert_array_equal(make_teacher_student(500, 40, random_state=0)[0], X)
    assert abs((y == 1).mean() - 0.5) < 5 * 0.5 / np.sqrt(500)


@pytest.mark.parametrize("angle", [0.0, 0.1, 0.7, np.pi / 2, np.pi])
@pytest.mark.parametrize("seed", [0, 3])
def test_probe_is_a_unit_vector_at_the_angle(angle, seed):
    # seed 0 is also the teacher's seed: the first draw is parallel to the teacher and must
    # be redrawn (this was a bug: a non-unit probe at the wrong angle).
    _, _, teacher = make_teacher_student(10, 50, random_state=0)
    probe = make_probe(teacher, angle, random_state=seed)
    assert np.linalg.norm(probe) == pytest.approx(1.0, abs=1e-12)
    assert probe @ teacher == pytest.approx(np.cos(angle), abs=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        make_teacher_student(0, 5)
    with pytest.raises(ValueError, match="n_features"):
        make_teacher_student(5, 2.5)
    with pytest.raises(ValueError, match="angle"):
        make_probe(np.ones(3), 4.0)
    with pytest.raises(ValueError, match="zero vector"):
        make_probe(np.zeros(3), 0.1)
