"""GraphedStep on CPU: eager execution equals the plain loop; input checks; capture needs CUDA."""
import contextlib

import pytest
import torch

from mmac.training.graphed_step import GraphedStep


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
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
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
def test_cuda_graph_replay_matches_eager_on_gpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
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
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    for opt in (opt_a, opt_b):  # a momentum scheduler is not silently ignored by the graph
        opt.param_groups[0]['betas'] = (0.8, 0.999)
    with pytest.raises(ValueError, match="'betas'.*changed"):
        step({'x': data[0][0], 'y': data[0][1]})


def _plain_adam_steps(net, opt, data):
    for x, y in data:
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()


def test_capturable_optimizer_saves_a_plain_state_dict():
    """State of a graphed run (capturable Adam) resumes on a CPU with plain Adam, and retraces a plain run."""
    import io

    g = torch.Generator().manual_seed(4)
    data = [(torch.randn(5, 3, generator=g), torch.randn(5, 1, generator=g)) for _ in range(4)]
    net_a, opt_a = make()
    _plain_adam_steps(net_a, opt_a, data[:2])
    step = GraphedStep(body_for(net_a, opt_a), [opt_a], enabled=True)
    step._make_capturable()  # what the first graphed call does to the optimizer
    assert opt_a.param_groups[0]['capturable'] is True
    buffer = io.BytesIO()
    torch.save({'net': net_a.state_dict(), 'opt': opt_a.state_dict()}, buffer)
    assert opt_a.param_groups[0]['capturable'] is True  # the live optimizer is left as it is
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert saved['opt']['param_groups'][0]['capturable'] is False
    assert all(s['step'].device.type == 'cpu' for s in saved['opt']['state'].values())

    net_b, opt_b = make(seed=1)  # other weights, all overwritten by the checkpoint
    net_b.load_state_dict(saved['net'])
    opt_b.load_state_dict(saved['opt'])
    _plain_adam_steps(net_b, opt_b, data[2:])  # plain Adam on a CPU asserts on capturable=True
    net_c, opt_c = make()
    _plain_adam_steps(net_c, opt_c, data)
    for pb, pc in zip(net_b.parameters(), net_c.parameters(), strict=True):
        assert torch.equal(pb, pc)
    assert {int(s['step']) for s in opt_b.state.values()} == {4}


class _FakeCuda:
    """Stands in for torch.cuda's streams, device guard and graphs, recording how GraphedStep uses them."""

    def __init__(self, monkeypatch, fail_capture=False):
        import mmac.training.graphed_step as module

        self.streams, self.capture_streams, self.device_guards, self.replays = [], [], 0, 0
        self.capturing = False
        self.fail_capture = fail_capture
        fake = self

        class Stream:
            def __init__(self, *args, **kwargs):
                fake.streams.append(self)

            def wait_stream(self, other):
                pass

        class Graph:
            def replay(self):
                fake.replays += 1

        @contextlib.contextmanager
        def graph(g, stream=None, capture_error_mode='global'):
            fake.capture_streams.append(stream)
            fake.capturing = True
            try:
                yield
            finally:
                fake.capturing = False

        @contextlib.contextmanager
        def device(d):
            fake.device_guards += 1
            yield

        monkeypatch.setattr(module, '_not_on_cuda', lambda tensors: [])
        monkeypatch.setattr(torch.cuda, 'Stream', Stream)
        monkeypatch.setattr(torch.cuda, 'current_stream', lambda *a, **k: Stream.__new__(Stream))
        monkeypatch.setattr(torch.cuda, 'stream', lambda s: contextlib.nullcontext())
        monkeypatch.setattr(torch.cuda, 'device', device)
        monkeypatch.setattr(torch.cuda, 'CUDAGraph', Graph)
        monkeypatch.setattr(torch.cuda, 'graph', graph)

    def body_for(self, net):
        """A body that back-propagates (no optimizer step: capturable Adam refuses CPU tensors) and fails
        while capturing when asked to."""

        def body(inputs):
            loss = ((net(inputs['x']) - inputs['y']) ** 2).mean()
            loss.backward()
            if self.capturing and self.fail_capture:
                raise RuntimeError("operation not permitted when stream is capturing")
            for p in net.parameters():
                p.grad = None
            return {'loss': loss.detach()}

        return body


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {'x': torch.randn(5, 3, generator=g), 'y': torch.randn(5, 1, generator=g)}


def test_one_side_stream_reused_for_warmup_and_capture_under_device_guard(monkeypatch):
    fake = _FakeCuda(monkeypatch)
    net, opt = make()
    step = GraphedStep(fake.body_for(net), [opt], enabled=True, warmup=3)
    for i in range(6):
        step(_inputs(i))
    assert len(fake.streams) == 1, "one side stream, created once"
    assert fake.capture_streams == fake.streams, "the capture runs on that same stream"
    assert step.captured and fake.replays == 3  # the capture's own run, then 2 replays
    assert fake.device_guards == 7  # stream creation + every one of the 6 iterations


def test_failed_capture_cleans_gradients_and_raises_without_fallback(monkeypatch):
    fake = _FakeCuda(monkeypatch, fail_capture=True)
    net, opt = make()
    step = GraphedStep(fake.body_for(net), [opt], enabled=True, warmup=1)
    step(_inputs(0))
    with pytest.raises(RuntimeError, match="stream is capturing"):
        step(_inputs(1))
    assert all(p.grad is None for p in net.parameters())
    assert not step.captured
    assert opt.param_groups[0]['lr'] == 1e-2 and '_float_lr' not in opt.param_groups[0]


def test_failed_capture_with_fallback_warns_once_and_runs_eagerly(monkeypatch):
    fake = _FakeCuda(monkeypatch, fail_capture=True)
    net, opt = make()
    grads_at_entry = []
    body = fake.body_for(net)

    def watched(inputs):
        grads_at_entry.append([p.grad for p in net.parameters()])
        return body(inputs)

    step = GraphedStep(watched, [opt], enabled=True, warmup=1, fallback=True)
    net_ref, _ = make()
    with pytest.warns(RuntimeWarning, match="capture of the training iteration failed") as record:
        losses = [step(_inputs(i))['loss'] for i in range(5)]
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert not step.captured and not step.enabled and fake.replays == 0
    # The eager run after the failed capture starts from clean gradients and computes the right loss.
    assert all(g is None for g in grads_at_entry[2])
    for i, loss in enumerate(losses):
        with torch.no_grad():
            want = ((net_ref(_inputs(i)['x']) - _inputs(i)['y']) ** 2).mean()
        assert torch.equal(loss, want), i


def test_hyperparameter_change_after_capture_raises_lr_change_followed(monkeypatch):
    fake = _FakeCuda(monkeypatch)
    net, opt = make()
    step = GraphedStep(fake.body_for(net), [opt], enabled=True, warmup=1)
    step(_inputs(0)), step(_inputs(1))
    assert step.captured
    opt.param_groups[0]['lr'] = 5e-3  # followed through the device tensor
    step(_inputs(2))
    assert float(step._lr_tensors[0][0]) == pytest.approx(5e-3)
    opt.param_groups[0]['betas'] = (0.8, 0.999)  # a momentum scheduler: frozen in the graph
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['betas'\] changed from \(0.9, 0.999\) to "
                                         r"\(0.8, 0.999\).*cuda_graph=False"):
        step(_inputs(3))
    opt.param_groups[0]['betas'] = (0.9, 0.999)
    opt.param_groups[0]['weight_decay'] = 1e-4
    with pytest.raises(ValueError, match=r"'weight_decay'\] changed from 0 to 0.0001"):
        step(_inputs(4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_failed_capture_falls_back_to_eager_on_gpu():
    """A host sync in the body breaks the capture: with fallback the run goes on eagerly, from clean gradients,
    and ends with the weights of an eager run."""
    g = torch.Generator().manual_seed(3)
    data = [(torch.randn(5, 3, generator=g).cuda(), torch.randn(5, 1, generator=g).cuda()) for _ in range(5)]
    net_a, _ = make()
    net_a.cuda()
    opt_a = torch.optim.Adam(net_a.parameters(), lr=1e-2)
    inner = body_for(net_a, opt_a)

    def syncing(inputs):
        out = inner(inputs)
        float(out['loss'])  # .item(): illegal while capturing
        return out

    step = GraphedStep(syncing, [opt_a], enabled=True, warmup=2, fallback=True)
    net_b, _ = make()
    net_b.cuda()
    opt_b = torch.optim.Adam(net_b.parameters(), lr=1e-2)
    eager = GraphedStep(body_for(net_b, opt_b), [opt_b], enabled=False)
    with pytest.warns(RuntimeWarning, match="capture of the training iteration failed"):
        for x, y in data:
            got = step({'x': x, 'y': y})['loss']
            want = eager({'x': x, 'y': y})['loss']
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not step.captured and step.calls == 5
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
