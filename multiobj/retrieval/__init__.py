"""Two-tower retrieval: which candidates a batch scores, and the task.

candidates.py  the candidate mix (in-batch, hard, uniform, cross-replica)
               and its logQ sampling probabilities;
task.py        RetrievalTask, TFRS's retrieval task over that mix;
index.py       the catalogue's embeddings and the top-k indexes (exact,
               ScaNN), which evaluation and export build alike.
"""
