# SPDX-License-Identifier: MIT
"""Retrieval metrics of deep metric learning (pdml/evaluation), in two modes: leave-one-out
(every row a query against all other rows) and query / gallery (every query against every
gallery row, as in In-Shop)."""
import torch

from . import _C
from ._common import check_labels, check_same_dtype, check_tensor


def evaluate_retrieval(embeddings, labels, ks=None, *, gallery=None, gallery_labels=None, distance="cosine",
                       seed=0):
    """Recall@k for each k in `ks` (keys "recall@k"), mAP@R ("map_at_r"), the NMI of a k-means
    clustering into as many clusters as classes ("nmi", k-means seeded by `seed`) and the
    AUROC with which the embedding norm predicts a correct nearest neighbour ("norm_auroc").

    Leave-one-out (no gallery): embeddings N x D (N >= 2), labels N integers; every row is a
    query against the N - 1 others, each k in [1, N - 1].
    Query / gallery: `embeddings`/`labels` are the Q queries, `gallery`/`gallery_labels` the G
    gallery rows (disjoint sets; a query is never excluded); each k in [1, G]; R of a query is
    the number of gallery rows of its label, and a query with none counts as a miss in Recall@k
    and is left out of mAP@R. NMI clusters queries and gallery together; norm_auroc is over the
    queries.
    ks: None (default) = 1, 2, 4, 8, keeping those that fit; otherwise every k is checked.
    """
    fn = "evaluate_retrieval"
    check_tensor("embeddings", embeddings, fn)
    labels = check_labels(labels, fn)
    ks = [] if ks is None else [int(k) for k in ks]
    if (gallery is None) != (gallery_labels is None):
        raise ValueError(f"pdml.{fn}: pass 'gallery' and 'gallery_labels' together")
    with torch.no_grad():
        queries = embeddings.detach().contiguous()
        if gallery is None:
            return _C.evaluate_retrieval(queries, labels, ks, distance, int(seed))
        check_tensor("gallery", gallery, fn)
        check_same_dtype(fn, "embeddings", embeddings, gallery=gallery)
        gallery = gallery.detach().contiguous()
        if not isinstance(gallery_labels, torch.Tensor):
            raise TypeError(f"pdml.{fn}: argument 'gallery_labels' must be a torch.Tensor")
        gallery_labels = check_labels(gallery_labels, fn).to(torch.int64)
        if gallery.dim() != 2 or queries.dim() != 2 or gallery.shape[1] != queries.shape[1]:
            raise ValueError(f"pdml.{fn}: argument 'gallery' must be G x D with the D of 'embeddings' "
                             f"(got {tuple(gallery.shape)} and {tuple(queries.shape)})")
        if gallery_labels.shape != (gallery.shape[0],):
            raise ValueError(f"pdml.{fn}: argument 'gallery_labels' must have one entry per gallery row")
        if labels.shape != (queries.shape[0],):
            raise ValueError(f"pdml.{fn}: argument 'labels' must have one entry per embedding")
        everything = torch.cat([queries, gallery])
        everything_labels = torch.cat([labels.to(torch.int64), gallery_labels])
        return _C.evaluate_retrieval_gallery(queries, labels, gallery, gallery_labels, everything,
                                             everything_labels, ks, distance, int(seed))
