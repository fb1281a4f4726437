"""Evaluation of a trained model: every number beside its baseline.

metrics.py       pointwise and within-list metrics in NumPy (AUC, GAUC,
                 log loss, calibration, MRR, MAP), exact with ties;
predictions.py   running the model over lists, logged and at serving;
heads.py         the ranking heads' metrics, one scoring function;
retrieval.py     recall@k over the catalogue, per pair and per user;
slates.py        coverage, diversity, novelty of top-k slates;
full_ranking.py  every item ranked for every user (papers' protocols);
baselines.py     popularity, item rates, the mean: scored the same way;
report.py        a split's metrics and baselines, and their table;
offline.py       the full evaluation of a saved run, eval.json, plots;
plots.py         calibration curves and recall at every k.
"""
