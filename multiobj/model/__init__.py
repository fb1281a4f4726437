"""The model: features in, embeddings and one prediction per objective out.

features.py  feature statistics and preprocessing layers, one per column;
towers.py    the query and candidate towers (unit-length embeddings);
attention.py target attention over a user's history, for ranking (DIN);
trunks.py    ranking trunks by name: shared_bottom, mmoe, ple;
trunk_names.py  their registry, known without TensorFlow;
heads.py     one head per ranking objective, funnels, each head's loss;
model.py     MultiObjectiveModel: towers, retrieval task, trunk, heads;
step.py      the train and test steps: weighting, replicas, logging.
"""
