"""Datasets, from files or code to tables in memory.

spec.py          DatasetSpec: which column is what (features, labels, ids);
dataset.py       Dataset: split tables of rows and the item catalogue;
splits.py        splitting rows by time or at random, lists together;
readers.py       CSV, TSV, JSON lines and Parquet files to columns;
history.py       the user's recent items, built from the log (no future);
vectors.py       precomputed vectors of an embedding feature, read, checked;
description/     datasets described by a JSON file (docs/dataset_spec.md);
synthetic/       the built-in synthetic log, with its ground truth;
adapters/        the real datasets, one module each;
loaders.py       DataConfig and the registry of loaders by name;
validation.py    checks of a dataset against its spec and objectives.
"""
