"""Selection: keep or remove training rows by a score, then fit a model."""

from ._cleansing import CleansingSelector
from ._pruning import PruningSelector

__all__ = ["CleansingSelector", "PruningSelector"]
