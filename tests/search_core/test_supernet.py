import random

import pytest
import torch

from search_core.architecture import BRANCH_KERNELS
from search_core.hardware import Relaxation
from search_core.space import SearchSpace
from lut_store import same_padding
from search_core.supernet import ArchitectureParameters, Network, Supernet, inherit_weights


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (128, 3, 2, (0, 1)), (128, 5, 2, (1, 2)), (128, 7, 2, (2, 3)),   # TF puts the extra pad after
    (16, 3, 1, (1, 1)), (9, 9, 2, (4, 4)), (9, 2, 2, (0, 1)), (5, 1, 1, (0, 0)),
])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize("dims", [(128, 9, 6), (64, 30, 10), (32, 6, 4)])
def test_one_hot_supernet_is_exactly_the_network(dims):
    """Masked channels are exactly zero: with one-hot choices the supernet computes the very
    function of the discrete network that is deployed (a defect of the original code)."""
    torch.manual_seed(0)
    space = SearchSpace(*dims)
    supernet = Supernet(space).eval()
    x = torch.randn(4, dims[0], dims[1])
    rng = random.Random(1)
    for arch in [space.largest(), space.smallest()] + [space.random(rng) for _ in range(6)]:
        net = Network(arch).eval()
        inherit_weights(net, supernet)
        r = Relaxation.one_hot(arch, dtype=torch.float32)
        assert torch.allclose(supernet(x, r), net(x), atol=1e-5, rtol=1e-4)


def test_argmax_follows_the_logits_and_is_valid():
    space = SearchSpace(128, 9, 6)
    params = ArchitectureParameters(space)
    with torch.no_grad():
        params.tr_kernel[0][2] = 5.0          # kernel 7
        params.sf_width[1][7] = 5.0           # width 64
        params.sf_skip[2][1] = 5.0            # skip the last cell
        for j in range(3):
            params.sf_branches[j][:, 0] = 5.0  # every branch off ...
            params.sf_residual[j][0] = 5.0     # ... and no residual
    arch = params.argmax()
    assert arch.tr_cells[0].kernel == 7
    assert arch.sf_cells[2].skip
    assert arch.sf_cells[1].skip               # nothing on in a normal cell: skipped, not invalid
    assert arch.sf_cells[0].has_branches or arch.sf_cells[0].residual   # reducing cell computes
    assert params.log_prob(arch) > params.log_prob(space.largest())


def test_gumbel_samples_are_seeded_and_sum_to_one():
    params = ArchitectureParameters(SearchSpace(128, 9, 6))
    a = params.sample(0.5, torch.Generator().manual_seed(3))
    b = params.sample(0.5, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.tensors(), b.tensors()))
    assert torch.allclose(a.tr[0].width.sum(), torch.tensor(1.0))


def test_batch_norm_folds_into_the_deployed_convs():
    """Retraining may put BN between conv and ReLU; folding it leaves exactly the deployed
    parameters (the same state_dict keys as a plain Network) and the same eval-mode function."""
    torch.manual_seed(0)
    space = SearchSpace(128, 9, 6)
    arch = space.random(random.Random(3))
    net = Network(arch, batch_norm=True).train()
    x = torch.randn(16, 128, 9)
    for _ in range(3):                      # move the running statistics away from (0, 1)
        net(2 * x + 1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
    net.eval()
    before = net(x)
    net.fold_batch_norm()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert set(net.state_dict()) == set(Network(arch).state_dict())
    assert torch.allclose(net(x), before, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dims", [(128, 9, 6), (64, 30, 10)])
def test_single_path_is_the_supernet_on_one_hot_choices(dims):
    """A weight step computes only the sampled network: same outputs and same gradients on the
    weights it uses as the full supernet with the same one-hot choices, none on the others."""
    torch.manual_seed(0)
    space = SearchSpace(*dims)
    supernet = Supernet(space).eval()
    x = torch.randn(4, dims[0], dims[1])
    rng = random.Random(2)
    for arch in [space.largest(), space.smallest()] + [space.random(rng) for _ in range(5)]:
        r = Relaxation.one_hot(arch, dtype=torch.float32)
        grads = []
        for forward in (supernet.forward, supernet.forward_path):
            supernet.zero_grad(set_to_none=True)
            out = forward(x, r)
            out.square().sum().backward()
            grads.append({n: p.grad for n, p in supernet.named_parameters()})
            if forward == supernet.forward:
                full = out
        assert torch.allclose(supernet.forward_path(x, r), full, atol=1e-5, rtol=1e-4)
        for name, g in grads[1].items():
            ref = grads[0][name]
            if g is None:   # untouched by the path: the supernet's gradient there is zero too
                assert ref is None or not ref.any(), name
            else:
                assert torch.allclose(g, ref, atol=1e-4, rtol=1e-3), name
        assert sum(g is not None for g in grads[1].values()) < len(grads[1])


def test_dropout_keeps_the_expectation_and_is_off_in_eval():
    from search_core.supernet import Dropout
    torch.manual_seed(0)
    drop, x = Dropout(0.3), torch.ones(200_000)
    y = drop.train()(x)
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.01
    assert torch.equal(drop.eval()(x), x)
