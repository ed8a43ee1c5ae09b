"""scikit-learn's estimator checks on every public estimator.

Each module that adds a public estimator appends an instance to ESTIMATORS, and, where a check
cannot hold by design, the reason to EXPECTED_FAILURES.
"""

from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from skinfluence import (
    BanzhafScorer,
    CleansingSelector,
    CombinedScorer,
    DataOOBScorer,
    EL2NScorer,
    GradientOutlierScorer,
    GraNdScorer,
    InfluenceScorer,
    KNNShapleyScorer,
    LeaveOneGroupOutScorer,
    LeaveOneOutScorer,
    LossScorer,
    MemorizationScorer,
    OutOfBagScorer,
    PrototypeScorer,
    PruningSelector,
    ResidualScorer,
    TracInScorer,
    TRAKScorer,
    TurnOverDropoutScorer,
)
from skinfluence.toy import MarginScorer, PerceptronStudent

ESTIMATORS = [
    InfluenceScorer(LogisticRegression()),
    InfluenceScorer(LogisticRegression(), newton_step=True),  # + newton_refine="auto"
    InfluenceScorer(HistGradientBoostingClassifier(max_iter=5, random_state=0)),
    LeaveOneOutScorer(LogisticRegression()),
    LeaveOneGroupOutScorer(LogisticRegression()),
    MemorizationScorer(LogisticRegression(), n_estimators=20),
    TracInScorer(LogisticRegression()),
    TRAKScorer(LogisticRegression(), projection_dim=8, random_state=0),
    GradientOutlierScorer(LogisticRegression(), random_state=0),
    EL2NScorer(LogisticRegression(), n_repeats=2, random_state=0),
    GraNdScorer(LogisticRegression(), n_repeats=2, probe_params={"max_iter": 3}, random_state=0),
    PrototypeScorer(random_state=0),
    PrototypeScorer(per_class=True, random_state=0),
    PruningSelector(EL2NScorer(LogisticRegression()), LogisticRegression(), random_state=0),
    PruningSelector(EL2NScorer(LogisticRegression()), random_state=0),  # sampler
    CleansingSelector(LogisticRegression(), random_state=0),  # out-of-fold loss
    CleansingSelector(  # validation influence on an internal split
        LogisticRegression(), scorer=InfluenceScorer(LogisticRegression()), random_state=0
    ),
    PerceptronStudent(),
    PerceptronStudent(loss="logistic"),
    MarginScorer(),
    DataOOBScorer(RandomForestClassifier(10, random_state=0)),
    KNNShapleyScorer(n_neighbors=3),
    BanzhafScorer(LogisticRegression(), n_estimators=20, random_state=0),
    LossScorer(LogisticRegression(), cv=3, random_state=0),
    LossScorer(LogisticRegression(), cv=None),
    OutOfBagScorer(RandomForestClassifier(10), random_state=0),
    OutOfBagScorer(n_estimators=10, random_state=0),  # the default forest's own pass
    ResidualScorer(Ridge(), cv=3, n_neighbors=3, random_state=0),
    CombinedScorer(
        [
            ("oof", LossScorer(LogisticRegression(), cv=3, random_state=0)),
            ("forest", OutOfBagScorer(RandomForestClassifier(10), random_state=0)),
        ],
        families={"oof": "linear", "forest": "forest"},
    ),
]


try:  # torch is an optional extra
    from tests._skorch_nets import data_sized_dropout_net

    ESTIMATORS.append(TurnOverDropoutScorer(data_sized_dropout_net(max_epochs=2)))
except ImportError:
    pass

_WEIGHT_IS_NOT_REPETITION = (
    "leaving out a row of weight 2 removes both copies, leaving out one of two repeated rows "
    "removes one: leave-one-out is not invariant to replacing repetition by weight"
)
_SUBSETS_SPLIT_REPEATS = (
    "subsets are drawn over rows: one of two repeated rows can be left out while its copy "
    "is kept, whereas a row of weight 2 is kept or left out whole"
)
_BOOTSTRAP_SPLITS_REPEATS = (
    "the bagging model's bootstrap draws rows: one of two repeated rows can be out of bag "
    "while its copy is drawn, whereas a row of weight 2 is in or out of bag whole"
)
_DETECTOR_SEES_ROWS = (
    "the outlier detector is fitted on one gradient per training row: a repeated row adds a "
    "point to its sample (and changes an isolation forest's random subsamples), a weight does not"
)
_BOOTSTRAP_DRAWS_ROWS = (
    "bootstrap samples are drawn over rows: the two copies of a repeated row can land in "
    "different trees' samples (and be out of bag apart), a row of weight 2 cannot"
)
_RANKS_COUNT_ROWS = (
    "the combined score is a rank among the rows: a repeated row occupies two ranks, a row of "
    "weight 2 one (and the forest member draws its bootstrap over rows)"
)
_RANKS_AMONG_THE_ROWS_GIVEN = (
    "score_samples ranks the rows of X among themselves (a rank needs the other rows), so a "
    "row's score depends on the batch it comes in"
)
EXPECTED_FAILURES = {
    "OutOfBagScorer": {
        "check_sample_weight_equivalence_on_dense_data": _BOOTSTRAP_DRAWS_ROWS,
        "check_sample_weight_equivalence_on_sparse_data": _BOOTSTRAP_DRAWS_ROWS,
    },
    "CombinedScorer": {
        "check_sample_weight_equivalence_on_dense_data": _RANKS_COUNT_ROWS,
        "check_sample_weight_equivalence_on_sparse_data": _RANKS_COUNT_ROWS,
        "check_methods_subset_invariance": _RANKS_AMONG_THE_ROWS_GIVEN,
    },
    "GradientOutlierScorer": {
        "check_sample_weight_equivalence_on_dense_data": _DETECTOR_SEES_ROWS,
        "check_sample_weight_equivalence_on_sparse_data": _DETECTOR_SEES_ROWS,
    },
    "MemorizationScorer": {
        "check_sample_weight_equivalence_on_dense_data": _SUBSETS_SPLIT_REPEATS,
        "check_sample_weight_equivalence_on_sparse_data": _SUBSETS_SPLIT_REPEATS,
    },
    "BanzhafScorer": {
        "check_sample_weight_equivalence_on_dense_data": _SUBSETS_SPLIT_REPEATS,
        "check_sample_weight_equivalence_on_sparse_data": _SUBSETS_SPLIT_REPEATS,
    },
    "DataOOBScorer": {
        "check_sample_weight_equivalence_on_dense_data": _BOOTSTRAP_SPLITS_REPEATS,
        "check_sample_weight_equivalence_on_sparse_data": _BOOTSTRAP_SPLITS_REPEATS,
    },
    "LeaveOneOutScorer": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHT_IS_NOT_REPETITION,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHT_IS_NOT_REPETITION,
    },
    "LeaveOneGroupOutScorer": {  # without groups= it leaves each row out on its own
        "check_sample_weight_equivalence_on_dense_data": _WEIGHT_IS_NOT_REPETITION,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHT_IS_NOT_REPETITION,
    },
}


def _expected_failures(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
