"""Bundled small data and label-noise injection for demos, tests and benchmarks."""

from ._noise import flip_labels, load_noisy_breast_cancer

__all__ = ["flip_labels", "load_noisy_breast_cancer"]
