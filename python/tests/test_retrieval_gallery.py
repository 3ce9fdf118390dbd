# SPDX-License-Identifier: MIT
"""pdml.evaluate_retrieval in query / gallery mode against a brute-force torch reference
(full similarity matrix, sort, count), and the adaptive default ks."""
import pytest
import torch

import pdml


def brute_force(queries, query_labels, gallery, gallery_labels, ks, distance):
    if distance == "cosine":
        q = queries / queries.norm(dim=1, keepdim=True)
        g = gallery / gallery.norm(dim=1, keepdim=True)
        order = torch.argsort(q @ g.T, dim=1, descending=True)
    else:
        order = torch.argsort(torch.cdist(queries, gallery), dim=1)
    relevant = gallery_labels[order] == query_labels[:, None]  # Q x G, in rank order
    recall = {f"recall@{k}": relevant[:, :k].any(dim=1).double().mean().item() for k in ks}
    r_counts = (gallery_labels[None, :] == query_labels[:, None]).sum(dim=1)
    aps = []
    for i in range(len(queries)):
        r = int(r_counts[i])
        if r == 0:
            continue  # no gallery row of its class: left out of mAP@R
        hits = relevant[i, :r].double()
        precision = hits.cumsum(0) / torch.arange(1, r + 1, dtype=torch.float64)
        aps.append((hits * precision).sum().item() / r)
    return recall, sum(aps) / len(aps), relevant[:, 0]


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_query_gallery_matches_brute_force(distance, dtype):
    g = torch.Generator().manual_seed(4)
    centers = 2.0 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    query_labels = torch.randint(0, 6, (40,), generator=g)
    gallery_labels = torch.randint(0, 5, (70,), generator=g)  # class 5: queries without a match
    queries = centers[query_labels] + torch.randn(40, 5, generator=g, dtype=torch.float64)
    gallery = centers[gallery_labels] + torch.randn(70, 5, generator=g, dtype=torch.float64)
    ks = (1, 3, 10)
    got = pdml.evaluate_retrieval(queries.to(dtype), query_labels, ks, gallery=gallery.to(dtype),
                                  gallery_labels=gallery_labels, distance=distance)
    recall, map_at_r, _ = brute_force(queries, query_labels, gallery, gallery_labels, ks, distance)
    assert (query_labels == 5).any()
    for key, value in recall.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert got["map_at_r"] == pytest.approx(map_at_r, abs=1e-12)
    assert 0.0 <= got["nmi"] <= 1.0 and 0.0 <= got["norm_auroc"] <= 1.0


def test_norm_auroc_over_queries():
    # the norm predicts correctness perfectly: long queries hit, short ones miss
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    gallery_labels = torch.tensor([0, 1])
    queries = torch.tensor([[5.0, 0.2], [0.1, 4.0], [0.3, 0.1], [0.1, 0.2]], dtype=torch.float64)
    query_labels = torch.tensor([0, 1, 1, 0])  # the last two land on the other class
    m = pdml.evaluate_retrieval(queries, query_labels, (1,), gallery=gallery, gallery_labels=gallery_labels)
    assert m["recall@1"] == 0.5
    assert m["norm_auroc"] == pytest.approx(1.0)


def test_default_ks_fit_the_gallery_and_errors():
    e = torch.randn(10, 4)
    labels = torch.arange(10) % 3
    assert {k for k in pdml.evaluate_retrieval(e, labels) if k.startswith("recall")} == \
        {"recall@1", "recall@2", "recall@4", "recall@8"}
    small = pdml.evaluate_retrieval(e[:4], labels[:4], gallery=e[4:7], gallery_labels=labels[4:7])
    assert {k for k in small if k.startswith("recall")} == {"recall@1", "recall@2"}
    with pytest.raises(ValueError, match="recall_ks"):
        pdml.evaluate_retrieval(e[:4], labels[:4], (4,), gallery=e[4:7], gallery_labels=labels[4:7])
    with pytest.raises(ValueError, match="together"):
        pdml.evaluate_retrieval(e[:4], labels[:4], gallery=e[4:7])
    with pytest.raises(ValueError, match="gallery"):
        pdml.evaluate_retrieval(e[:4], labels[:4], gallery=e[4:7, :3], gallery_labels=labels[4:7])
    with pytest.raises(TypeError, match="dtype"):
        pdml.evaluate_retrieval(e[:4], labels[:4], gallery=e[4:7].double(), gallery_labels=labels[4:7])
