"""Model adapters: what every scorer needs from a fitted model, per model family."""

from ..torch._adapter import TorchAdapter, torch_adapter  # imports no torch until used
from ..torch._examples import torch_examples
from ..torch._wrappers import ParameterSubset, TorchModule
from ._base import GeneralizedLinear, GradientMatrix, ModelAdapter
from ._cv_linear import (
    LogisticRegressionCVAdapter,
    RidgeClassifierAdapter,
    RidgeClassifierCVAdapter,
    RidgeCVAdapter,
)
from ._linear import (
    LinearGradientMatrix,
    LinearRegressionAdapter,
    LogisticRegressionAdapter,
    RidgeAdapter,
)
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
    "AdapterExample",
    "AdapterFamily",
    "GeneralizedLinear",
    "GeneralizedLinearPipelineAdapter",
    "GradientMatrix",
    "LinearGradientMatrix",
    "LinearRegressionAdapter",
    "LogisticRegressionAdapter",
    "LogisticRegressionCVAdapter",
    "ModelAdapter",
    "ParameterSubset",
    "PipelineAdapter",
    "RidgeAdapter",
    "RidgeCVAdapter",
    "RidgeClassifierAdapter",
    "RidgeClassifierCVAdapter",
    "TorchAdapter",
    "TorchModule",
    "adapter_for",
    "register_adapter",
    "registered_adapter",
    "registered_families",
    "supported_families",
    "unregister_adapter",
]
