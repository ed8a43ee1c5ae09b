"""Model adapters: what every scorer needs from a fitted model, per model family."""

from ..torch._adapter import TorchAdapter, torch_adapter  # imports no torch until used
from ..torch._examples import torch_examples
from ..torch._wrappers import ParameterSubset, TorchModule
from ._base import (
    GaussNewton,
    GeneralizedLinear,
    GradientMatrix,
    KroneckerFactored,
    ModelAdapter,
    TrainingGradientMatrix,
    training_gradients,
)
from ._curvature import GaussNewtonView, resolve_curvature, with_curvature
from ._cv_linear import (
    LogisticRegressionCVAdapter,
    RidgeClassifierAdapter,
    RidgeClassifierCVAdapter,
    RidgeCVAdapter,
)
from ._glm import GeneralizedLinearRegressorAdapter
from ._huber import HuberGradientMatrix, HuberRegressorAdapter
from ._kernel_ridge import KernelRidgeAdapter
from ._linear import (
    LinearGradientMatrix,
    LinearRegressionAdapter,
    LogisticRegressionAdapter,
    RidgeAdapter,
)
from ._mlp import MLPAdapter, MLPGradientMatrix
from ._pipeline import GeneralizedLinearPipelineAdapter, PipelineAdapter
from ._registry import (
    AdapterExample,
    AdapterFamily,
    adapter_for,
    register_adapter,
    registered_adapter,
    registered_families,
    supported_families,
    unregister_adapter,
)
from ._sgd import SGDAdapter
from ._sparse_linear import ElasticNetAdapter
from ._svm import LinearSVCAdapter, LinearSVRAdapter
from ._targets import (
    AUROCSurrogate,
    GroupLossGap,
    OutputMetric,
    SetTarget,
    WorstGroupLoss,
    evaluate_target,
    link_targets,
    predictions_from_outputs,
)

# Registered by class path: nothing imports torch or skorch until an adapter is built; users'
# own subclasses of the skorch nets (defined outside ``skorch``) are found through their bases.
for _path, _name, _requires in (
    ("skorch.classifier:NeuralNetClassifier", "skorch NeuralNetClassifier", ("torch", "skorch")),
    (
        "skorch.classifier:NeuralNetBinaryClassifier",
        "skorch NeuralNetBinaryClassifier",
        ("torch", "skorch"),
    ),
    ("skorch.regressor:NeuralNetRegressor", "skorch NeuralNetRegressor", ("torch", "skorch")),
    ("skinfluence.torch._wrappers:TorchModule", "TorchModule", ("torch",)),
    ("skinfluence.torch._wrappers:ParameterSubset", "ParameterSubset", ("torch",)),
):
    register_adapter(
        _path,
        torch_adapter,
        name=_name,
        accepts_subclasses=True,
        requires=_requires,
        examples=torch_examples(_name),
    )

# Boosted tree ensembles (parameters = leaf values, structure fixed) register themselves, the
# scikit-learn ones here, LightGBM and XGBoost by class path (nothing imported until used).
from .. import trees as _trees  # noqa: E402, F401

__all__ = [
    "AUROCSurrogate",
    "AdapterExample",
    "AdapterFamily",
    "ElasticNetAdapter",
    "GaussNewton",
    "GaussNewtonView",
    "GeneralizedLinear",
    "GeneralizedLinearPipelineAdapter",
    "GeneralizedLinearRegressorAdapter",
    "GradientMatrix",
    "GroupLossGap",
    "HuberGradientMatrix",
    "HuberRegressorAdapter",
    "KernelRidgeAdapter",
    "KroneckerFactored",
    "LinearGradientMatrix",
    "LinearRegressionAdapter",
    "LinearSVCAdapter",
    "LinearSVRAdapter",
    "LogisticRegressionAdapter",
    "LogisticRegressionCVAdapter",
    "MLPAdapter",
    "MLPGradientMatrix",
    "ModelAdapter",
    "OutputMetric",
    "ParameterSubset",
    "PipelineAdapter",
    "RidgeAdapter",
    "RidgeCVAdapter",
    "RidgeClassifierAdapter",
    "RidgeClassifierCVAdapter",
    "SGDAdapter",
    "SetTarget",
    "TorchAdapter",
    "TorchModule",
    "TrainingGradientMatrix",
    "WorstGroupLoss",
    "adapter_for",
    "evaluate_target",
    "link_targets",
    "predictions_from_outputs",
    "register_adapter",
    "registered_adapter",
    "registered_families",
    "resolve_curvature",
    "supported_families",
    "training_gradients",
    "unregister_adapter",
    "with_curvature",
]
