"""GraphedStep on CPU: eager execution equals the plain loop; input checks; capture needs CUDA."""
import pytest
import torch

from mmac.engine.graphed_step import GraphedStep


def make(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    return net, opt


def body_for(net, opt):
    def body(inputs):
        loss = ((net(inputs['x']) - inputs['y']) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return {'loss': loss.detach()}
    return body


def test_eager_step_equals_plain_loop():
    g = torch.Generator().manual_seed(3)
    data = [(torch.randn(5, 3, generator=g), torch.randn(5, 1, generator=g)) for _ in range(6)]
    net_a, opt_a = make()
    step = GraphedStep(body_for(net_a, opt_a), [opt_a], enabled=False)
    net_b, opt_b = make()
    for x, y in data:
        got = step({'x': x, 'y': y})['loss']
        want = ((net_b(x) - y) ** 2).mean()
        want.backward()
        opt_b.step()
        opt_b.zero_grad()
        assert torch.equal(got, want.detach())
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(pa, pb)
    assert step.calls == 6 and not step.captured


def test_inputs_are_copied_into_fixed_tensors():
    net, opt = make()
    step = GraphedStep(body_for(net, opt), [opt], enabled=False)
    x = torch.randn(5, 3)
    step({'x': x, 'y': torch.zeros(5, 1)})
    static = step.static_inputs['x']
    x2 = torch.randn(5, 3)
    step({'x': x2, 'y': torch.zeros(5, 1)})
    assert step.static_inputs['x'] is static and torch.equal(static, x2) and static is not x2


def test_shape_and_key_changes_rejected():
    net, opt = make()
    step = GraphedStep(body_for(net, opt), [opt], enabled=False)
    step({'x': torch.randn(5, 3), 'y': torch.zeros(5, 1)})
    with pytest.raises(ValueError, match=r"input 'x' changed from \(5, 3\).*to \(4, 3\).*drop_last"):
        step({'x': torch.randn(4, 3), 'y': torch.zeros(4, 1)})
    with pytest.raises(ValueError, match="changed keys"):
        step({'x': torch.randn(5, 3)})


def test_capture_refuses_cpu_inputs_and_unsupported_optimizers():
    net, opt = make()
    step = GraphedStep(body_for(net, opt), [opt], enabled=True)
    with pytest.raises(ValueError, match=r"input\(s\) \['x', 'y'\] are not on a CUDA device"):
        step({'x': torch.randn(5, 3), 'y': torch.zeros(5, 1)})
    sgd = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="SGD"):
        GraphedStep(body_for(net, sgd), [sgd], enabled=True)
    with pytest.raises(ValueError, match="warm-up"):
        GraphedStep(body_for(net, opt), [opt], enabled=True, warmup=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_replay_matches_eager_on_gpu():
    g = torch.Generator().manual_seed(3)
    data = [(torch.randn(5, 3, generator=g).cuda(), torch.randn(5, 1, generator=g).cuda()) for _ in range(8)]
    net_a, opt_a = make()
    net_a.cuda()
    opt_a = torch.optim.Adam(net_a.parameters(), lr=1e-2)
    step = GraphedStep(body_for(net_a, opt_a), [opt_a], enabled=True, warmup=2)
    net_b, opt_b = make()
    net_b.cuda()
    opt_b = torch.optim.Adam(net_b.parameters(), lr=1e-2)
    eager = GraphedStep(body_for(net_b, opt_b), [opt_b], enabled=False)
    for i, (x, y) in enumerate(data):
        if i == 5:  # a scheduler changing the learning rate must reach the graph
            for opt in (opt_a, opt_b):
                opt.param_groups[0]['lr'] = 5e-3
        got = step({'x': x, 'y': y})['loss'].clone()
        want = eager({'x': x, 'y': y})['loss']
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert step.captured
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
