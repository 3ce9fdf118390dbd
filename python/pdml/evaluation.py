# SPDX-License-Identifier: MIT
"""Retrieval metrics of deep metric learning (pdml/evaluation): every row is a query
against all other rows."""
import torch

from . import _C
from ._common import check_labels, check_tensor


def evaluate_retrieval(embeddings, labels, ks=(1, 2, 4, 8), *, distance="cosine", seed=0):
    """Recall@k for each k in `ks` (keys "recall@k"), mAP@R ("map_at_r"), the NMI of a k-means
    clustering into as many clusters as classes ("nmi", k-means seeded by `seed`) and the
    AUROC with which the embedding norm predicts a correct nearest neighbour ("norm_auroc").
    embeddings: N x D float tensor (N >= 2), labels: N integers; every k in [1, N - 1]."""
    fn = "evaluate_retrieval"
    check_tensor("embeddings", embeddings, fn)
    labels = check_labels(labels, fn)
    ks = [int(k) for k in ks]
    with torch.no_grad():
        return _C.evaluate_retrieval(embeddings.detach().contiguous(), labels, ks, distance, int(seed))
