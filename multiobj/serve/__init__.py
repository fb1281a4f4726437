"""Serving a trained model.

blend.py   a value model: one ranking score from several heads;
export.py  a SavedModel with `retrieve` and `rank` signatures.
"""

# The retrieval indexes an export can hold (here, not in export.py: the
# export script's flags name them without importing TensorFlow).
INDEXES = ("brute_force", "scann")
