"""Datasets described by a JSON file instead of code (docs/dataset_spec.md).

keys.py      every key a description may hold, and their checker;
columns.py   what each column is: the spec and the objectives;
tables.py    reading the files, converting and joining their columns;
loader.py    `load(path, data_dir, seed)`: description to `Dataset`.
"""
