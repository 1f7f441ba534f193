"""Run a whole training iteration (forwards, backwards, optimizer steps) as one replayable CUDA graph.

At batch size 1 a CycleGAN iteration on a GPU is bound by Python and kernel launches, not by arithmetic:
hundreds of small kernels, each launched from Python. Capturing the iteration once and replaying it
launches them all with one call (PyTorch's "whole-network capture", ``torch.cuda.graph``). :class:`GraphedStep`
wraps a ``body`` function that reads its inputs from fixed ("static") tensors and returns a dict of tensors; it

1. copies each iteration's inputs into the static tensors,
2. runs ``body`` eagerly for ``warmup`` iterations on one side stream, reused (cuDNN picks its algorithms and
   the optimizers allocate their state),
3. captures one further iteration into a :class:`torch.cuda.CUDAGraph` on that same stream, and
4. replays that graph for every later iteration,

each under ``torch.cuda.device(<the inputs' device>)``.

Maths stays identical to the eager body as long as the body obeys the rules of graph capture: no host
synchronisation (``.item()``, ``bool(tensor)``, data-dependent shapes), randomness only from torch's
generators, optimizers with ``capturable=True`` (set here for Adam/AdamW). The learning rate is held in a
device tensor that follows ``param_group['lr']``, so learning-rate schedulers keep working; every other
hyperparameter (``betas``, ``eps``, ``weight_decay`` ...) is frozen into the graph, so a change after the
capture (a momentum scheduler, say) raises instead of being silently ignored. ``capturable=True`` never
reaches a checkpoint: the optimizers' ``state_dict`` is written as a plain optimizer's, so it resumes on any
path and device. Without CUDA, or with ``enabled=False``, the body simply runs eagerly every iteration:
same code, same results.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

Tensor = torch.Tensor

#: Optimizers whose ``step`` can be captured once their param groups say ``capturable=True``.
CAPTURABLE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)

#: Param-group keys that are not frozen into the graph: the parameters, the learning rate (followed through
#: a device tensor), the capture switch itself and the schedulers' bookkeeping.
_FOLLOWED_KEYS = frozenset({'params', 'lr', 'capturable', 'initial_lr', '_float_lr'})


def portable_state_dict(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    """Optimizer ``state_dict`` post hook: write a capturable optimizer's state as a plain one's.

    ``capturable=True`` in a checkpoint's param groups makes Adam assert, on resume, that every parameter is
    on a device that supports capture (a CPU is not), and keeps the step counters on the device. The saved
    param groups get ``capturable=False`` and the step counters a CPU copy; the live optimizer is untouched
    (its per-parameter state dicts are replaced by copies in ``state_dict``, never edited).

    Args:
        optimizer: The optimizer whose state is being saved (unused).
        state_dict: What ``optimizer.state_dict()`` packed; modified and returned.

    Returns:
        ``state_dict``.
    """
    for group in state_dict['param_groups']:
        if 'capturable' in group:
            group['capturable'] = False
    state_dict['state'] = {
        key: {k: (v.detach().to('cpu', copy=True) if k == 'step' and torch.is_tensor(v) else v)
              for k, v in state.items()}
        for key, state in state_dict['state'].items()}
    return state_dict


def _not_on_cuda(tensors: dict[str, Tensor]) -> list[str]:
    """Sorted names of the tensors that are not on a CUDA device."""
    return sorted(k for k, v in tensors.items() if v.device.type != 'cuda')


def _same(a: Any, b: Any) -> bool:
    """Whether a hyperparameter kept its captured value (a tensor must be the very tensor captured)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        return a is b
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class GraphedStep:
    """Capture ``body`` once and replay it; see the module docstring.

    Args:
        body: ``body(inputs) -> dict`` of tensors, where ``inputs`` maps names to the static tensors. It must
            zero (or set to None) the gradients it produces after its optimizer steps.
        optimizers: The optimizers ``body`` steps; switched to ``capturable=True`` when graphing.
        enabled: Capture and replay a CUDA graph. Requires CUDA tensors.
        warmup: Eager iterations before the capture (PyTorch recommends at least 3 for DDP, 1 elsewhere;
            cuDNN benchmarking and optimizer state allocation happen there).
        fallback: When the capture fails, warn once and run ``body`` eagerly from then on (what
            ``cuda_graph='auto'`` asks for) instead of raising. Either way the gradients the failed capture
            left are set to None. Defaults to False.

    Attributes:
        calls: Iterations run so far; ``captured`` tells whether the graph exists.
        device: The CUDA device of the inputs, once the first graphed call has seen them.
    """

    def __init__(self, body: Callable[[dict[str, Tensor]], dict[str, Tensor]],
                 optimizers: Sequence[torch.optim.Optimizer], enabled: bool = True, warmup: int = 3,
                 fallback: bool = False):
        if warmup < 1 and enabled:
            raise ValueError(f"GraphedStep needs at least one warm-up iteration before capture, got {warmup}")
        self.body = body
        self.optimizers = list(optimizers)
        self.enabled = enabled
        self.warmup = warmup
        self.fallback = fallback
        self.calls = 0
        self.device: torch.device | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: dict[str, Tensor] | None = None
        self.static_outputs: dict[str, Tensor] | None = None
        self._stream = None
        self._lr_tensors: list[list[Tensor]] = []
        self._lr_written: dict[tuple, float] = {}
        self._frozen: list[list[dict[str, Any]]] = []
        self._hooked: set = set()
        if enabled:
            bad = [type(o).__name__ for o in self.optimizers if not isinstance(o, CAPTURABLE_OPTIMIZERS)]
            if bad:
                raise ValueError(f"CUDA-graph training supports {[c.__name__ for c in CAPTURABLE_OPTIMIZERS]} "
                                 f"optimizers, got {bad}; set cuda_graph=False to train eagerly")

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def _stage(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Copy ``inputs`` into the static tensors (allocated on the first call)."""
        if self.static_inputs is None:
            self.static_inputs = {k: v.detach().clone() for k, v in inputs.items()}
            return self.static_inputs
        if inputs.keys() != self.static_inputs.keys():
            raise ValueError(f"GraphedStep inputs changed keys: captured {sorted(self.static_inputs)}, got "
                             f"{sorted(inputs)}")
        for k, v in inputs.items():
            static = self.static_inputs[k]
            if v.shape != static.shape or v.dtype != static.dtype or v.device != static.device:
                raise ValueError(f"GraphedStep input '{k}' changed from {tuple(static.shape)} {static.dtype} "
                                 f"on {static.device} to {tuple(v.shape)} {v.dtype} on {v.device}; a graphed "
                                 "step needs fixed shapes (use drop_last=True in the train dataloader)")
            static.copy_(v, non_blocking=True)
        return self.static_inputs

    def _make_capturable(self) -> None:
        """``capturable=True`` and a device learning-rate tensor in every param group; portable checkpoints."""
        self._lr_tensors = []
        for i, opt in enumerate(self.optimizers):
            tensors = []
            for group in opt.param_groups:
                device = group['params'][0].device
                group['capturable'] = True
                tensors.append(torch.tensor(float(group['lr']), dtype=torch.float32, device=device))
                self._lr_written[(i, len(tensors) - 1)] = float(group['lr'])
            self._lr_tensors.append(tensors)
            if id(opt) not in self._hooked:
                opt.register_state_dict_post_hook(portable_state_dict)
                self._hooked.add(id(opt))
        # State created by eager warm-up steps keeps its step counter on the host; capturable Adam wants it
        # on the parameter's device.
        for opt in self.optimizers:
            for state in opt.state.values():
                if 'step' in state and torch.is_tensor(state['step']):
                    param_device = next(v.device for k, v in state.items() if k != 'step' and torch.is_tensor(v))
                    state['step'] = state['step'].to(device=param_device, dtype=torch.float32)

    def _sync_lr(self) -> None:
        """Write each group's (possibly rescheduled) float ``lr`` into the tensor the graph reads.

        A kernel is launched only when the value changed since the last write.
        """
        for i, (opt, tensors) in enumerate(zip(self.optimizers, self._lr_tensors, strict=True)):
            for j, (group, lr) in enumerate(zip(opt.param_groups, tensors, strict=True)):
                value = float(group['lr'])
                if self._lr_written.get((i, j)) != value:
                    lr.fill_(value)
                    self._lr_written[(i, j)] = value

    def _check_frozen(self) -> None:
        """Raise when a hyperparameter the graph holds as a constant changed since the capture."""
        for i, (opt, groups) in enumerate(zip(self.optimizers, self._frozen, strict=True)):
            for j, (group, frozen) in enumerate(zip(opt.param_groups, groups, strict=True)):
                for key, value in frozen.items():
                    if not _same(group.get(key), value):
                        raise ValueError(
                            f"optimizer {i} ({type(opt).__name__}) param_groups[{j}]['{key}'] changed from "
                            f"{value!r} to {group.get(key)!r} after the CUDA-graph capture, which froze it; only "
                            "'lr' follows a scheduler there. Set model.fast_step.cuda_graph=False to schedule "
                            f"'{key}'")

    def _clean_grads(self) -> None:
        """Set every gradient of the optimizers' parameters to None (they may point into graph memory)."""
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def _eager(self, static: dict[str, Tensor]) -> dict[str, Tensor]:
        """Run ``body`` on the side stream, ordered after and before the current stream's work."""
        self._stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self._stream):
            outputs = self.body(static)
        torch.cuda.current_stream().wait_stream(self._stream)
        return outputs

    def _capture(self) -> bool:
        """Capture ``body`` into ``self.graph``; False when it failed and ``fallback`` is set."""
        for opt, tensors in zip(self.optimizers, self._lr_tensors, strict=True):
            for group, lr in zip(opt.param_groups, tensors, strict=True):
                group['_float_lr'] = group['lr']
                group['lr'] = lr
        self._clean_grads()
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: CUDA calls of other threads (a pin-memory thread, say) do not break the capture.
            with torch.cuda.graph(graph, stream=self._stream, capture_error_mode='thread_local'):
                outputs = self.body(self.static_inputs)
        except Exception as exc:
            if not self.fallback:
                raise
            warnings.warn(f"CUDA-graph capture of the training iteration failed ({type(exc).__name__}: {exc}); "
                          "training goes on eagerly (fast_step.cuda_graph='auto'). Set cuda_graph=True to "
                          "see the error, or False to skip the attempt", RuntimeWarning, stacklevel=3)
            self.enabled = False
            return False
        finally:
            for opt in self.optimizers:
                for group in opt.param_groups:
                    group['lr'] = group.pop('_float_lr')
            # A failed capture leaves gradients in memory the graph never filled; a retry or the eager
            # fallback would add into them. After a successful one the body has cleared them already.
            self._clean_grads()
        self.graph = graph
        self.static_outputs = outputs
        self._frozen = [[{k: v for k, v in group.items() if k not in _FOLLOWED_KEYS} for group in opt.param_groups]
                        for opt in self.optimizers]
        return True

    def __call__(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Run one iteration on ``inputs`` (dict of tensors with fixed shapes) and return ``body``'s outputs.

        While graphed, the returned tensors are the graph's static outputs: the next call overwrites them,
        so clone what must outlive it.

        Raises:
            ValueError: Inputs off CUDA while graphing, changed input shapes or keys, or a frozen
                hyperparameter changed after the capture.
        """
        static = self._stage(inputs)
        self.calls += 1
        if self.device is None and not self.enabled:
            return self.body(static)
        if self.calls == 1:
            off = _not_on_cuda(static)
            if off:
                raise ValueError(f"GraphedStep(enabled=True) captures CUDA graphs, but input(s) {off} are not on "
                                 "a CUDA device; pass enabled=False to run eagerly")
            self.device = next(iter(static.values())).device
            with torch.cuda.device(self.device):
                self._stream = torch.cuda.Stream()
            self._make_capturable()
        with torch.cuda.device(self.device):
            if self.graph is not None:
                self._check_frozen()
                self._sync_lr()
                self.graph.replay()
                return self.static_outputs
            if not self.enabled or self.calls <= self.warmup:
                return self._eager(static)
            if not self._capture():
                return self._eager(static)
            # The capture records the iteration without running it: replay it once to run it.
            self._sync_lr()
            self.graph.replay()
            return self.static_outputs
