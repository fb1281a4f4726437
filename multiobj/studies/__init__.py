"""Many runs at once: grids of configs in one process, and Optuna sweeps.

grid.py   a resumable grid of training configs, and its tables (the
          denoising study and the reproductions of docs/results);
sweep/    multi-objective hyperparameter sweeps, one process a trial.
"""
