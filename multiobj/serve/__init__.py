"""Serving a trained model.

blend.py   a value model: one ranking score from several heads;
export.py  a SavedModel with `retrieve` and `rank` signatures.
"""
