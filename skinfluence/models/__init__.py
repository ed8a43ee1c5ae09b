"""Model adapters: what every scorer needs from a fitted model, per model family."""

from ._base import GradientMatrix, ModelAdapter
from ._linear import (
    LinearGradientMatrix,
    LinearRegressionAdapter,
    LogisticRegressionAdapter,
    RidgeAdapter,
)
from ._pipeline import PipelineAdapter
from ._registry import SUPPORTED_FAMILIES, adapter_for, register_adapter, register_lazy_family

__all__ = [
    "SUPPORTED_FAMILIES",
    "GradientMatrix",
    "LinearGradientMatrix",
    "LinearRegressionAdapter",
    "LogisticRegressionAdapter",
    "ModelAdapter",
    "PipelineAdapter",
    "RidgeAdapter",
    "adapter_for",
    "register_adapter",
    "register_lazy_family",
]
