"""Model adapters: what every scorer needs from a fitted model, per model family."""

from ..torch._adapter import TorchAdapter, torch_adapter  # imports no torch until used
from ..torch._wrappers import ParameterSubset, TorchModule
from ._base import GradientMatrix, ModelAdapter
from ._linear import (
    LinearGradientMatrix,
    LinearRegressionAdapter,
    LogisticRegressionAdapter,
    RidgeAdapter,
)
from ._pipeline import PipelineAdapter
from ._registry import SUPPORTED_FAMILIES, adapter_for, register_adapter, register_lazy_family

# Registered by class path: nothing imports torch or skorch until an adapter is built. Eager
# rather than through ``register_lazy_family("skorch.", ...)`` so that users' own subclasses of
# the skorch nets (defined outside ``skorch.``) are found through their base classes.
for _path in (
    "skorch.classifier.NeuralNetClassifier",
    "skorch.classifier.NeuralNetBinaryClassifier",
    "skorch.regressor.NeuralNetRegressor",
    "skinfluence.torch._wrappers.TorchModule",
    "skinfluence.torch._wrappers.ParameterSubset",
):
    register_adapter(_path, torch_adapter)

__all__ = [
    "SUPPORTED_FAMILIES",
    "GradientMatrix",
    "LinearGradientMatrix",
    "LinearRegressionAdapter",
    "LogisticRegressionAdapter",
    "ModelAdapter",
    "ParameterSubset",
    "PipelineAdapter",
    "RidgeAdapter",
    "TorchAdapter",
    "TorchModule",
    "adapter_for",
    "register_adapter",
    "register_lazy_family",
]
