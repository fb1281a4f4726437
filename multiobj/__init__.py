"""multiobj: multi-objective recommendation and ranking on TensorFlow."""

__version__ = "0.1.0"
