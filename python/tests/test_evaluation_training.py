# SPDX-License-Identifier: MIT
"""evaluate_retrieval on cases with known answers, and pdml.ElNivmfLoss training a small
synthetic problem (loss falls, Recall@1 rises)."""
import pytest
import torch

import pdml


def test_retrieval_known_values():
    # two well separated classes: every metric is perfect
    e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [1.0, 0.05], [0.0, 1.0], [0.1, 0.9], [0.05, 1.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    m = pdml.evaluate_retrieval(e, labels, ks=(1, 2))
    assert set(m) == {"recall@1", "recall@2", "map_at_r", "nmi", "norm_auroc"}
    assert m["recall@1"] == 1.0 and m["recall@2"] == 1.0 and m["map_at_r"] == 1.0
    assert m["nmi"] == pytest.approx(1.0)
    # by hand (cosine): query 0's nearest is 1 (other class), query 1's nearest is 0 (its class)
    e2 = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
    l2 = torch.tensor([0, 1, 1, 0])
    m2 = pdml.evaluate_retrieval(e2, l2, ks=(1,))
    # nearest neighbours: 0->1 (wrong), 1->0 (wrong), 2->3 (wrong), 3->2 (wrong)
    assert m2["recall@1"] == 0.0


def test_retrieval_errors():
    with pytest.raises(ValueError):
        pdml.evaluate_retrieval(torch.randn(5, 3), torch.arange(5), ks=(5,))
    with pytest.raises(ValueError):
        pdml.evaluate_retrieval(torch.randn(5, 3), torch.arange(4))


def test_module_trains_synthetic_problem():
    """Gaussian clusters in 16-d seen through a fixed random distortion; a linear network and
    the criterion (paper multipliers scaled to a small problem) learn to separate them."""
    torch.manual_seed(0)
    classes, dim, n = 8, 16, 400
    centers = torch.randn(classes, dim)
    labels = torch.arange(n) % classes
    x = centers[labels] + 1.5 * torch.randn(n, dim)
    net = torch.nn.Linear(dim, dim)
    crit = pdml.ElNivmfLoss(classes, dim, guidance_weight=0.3, init_temperature=0.1)
    with torch.no_grad():
        first_metrics = pdml.evaluate_retrieval(net(x), labels)
        crit.warm_start(net(x), labels)
    opt = torch.optim.Adam([{"params": net.parameters(), "lr": 1e-2}] + crit.param_groups(1e-2, 1.0, 1.0, 1.0))
    losses = []
    for step in range(150):
        idx = torch.randint(0, n, (64,))
        loss = crit(net(x[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        last_metrics = pdml.evaluate_retrieval(net(x), labels)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)
    assert last_metrics["recall@1"] > first_metrics["recall@1"] + 0.05, (first_metrics, last_metrics)
