"""The perceptron teacher-student toy of Sorscher et al. (2022): data, student, probe, theory.

``make_teacher_student`` draws Gaussian inputs labelled by a random teacher perceptron;
``make_probe`` gives a pruning metric at a chosen angle to the teacher; ``MarginScorer``
turns its margin into a difficulty score for ``PruningSelector``; ``PerceptronStudent`` is
the max-margin student the theory assumes (and a logistic variant with an exact influence
adapter); ``theory_test_error`` solves the replica saddle-point equations for its test error.
"""

from ._data import make_probe, make_teacher_student
from ._margin import MarginScorer
from ._simulate import simulate_test_error
from ._student import NotSeparableWarning, PerceptronStudent, PerceptronStudentAdapter
from ._theory import crossover_alpha, pruning_threshold, solve_saddle_point, theory_test_error

__all__ = [
    "MarginScorer",
    "NotSeparableWarning",
    "PerceptronStudent",
    "PerceptronStudentAdapter",
    "crossover_alpha",
    "make_probe",
    "make_teacher_student",
    "pruning_threshold",
    "simulate_test_error",
    "solve_saddle_point",
    "theory_test_error",
]
