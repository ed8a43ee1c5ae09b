"""Selection: keep a fraction of the training rows by a difficulty score."""

from ._pruning import PruningSelector

__all__ = ["PruningSelector"]
