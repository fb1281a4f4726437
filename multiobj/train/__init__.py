"""Fitting a model and writing its run directory.

distribution.py  tf.distribute strategies: one device, mirrored, workers;
callbacks.py     what runs each epoch: checkpoints, history, early stop;
run_dir.py       what a run writes where, and loading a model back;
fit.py           `fit(config)`: data, model, `Model.fit`, a FitResult.
"""
