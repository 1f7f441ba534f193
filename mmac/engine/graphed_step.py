"""Run a whole training iteration (forwards, backwards, optimizer steps) as one replayable CUDA graph.

At batch size 1 a CycleGAN iteration on a GPU is bound by Python and kernel launches, not by arithmetic:
hundreds of small kernels, each launched from Python. Capturing the iteration once and replaying it
launches them all with one call. :class:`GraphedStep` wraps a ``body`` function that reads its inputs from
fixed ("static") tensors and returns a dict of tensors; it

1. copies each iteration's inputs into the static tensors,
2. runs ``body`` eagerly for ``warmup`` iterations on a side stream (cuDNN picks its algorithms and the
   optimizers allocate their state),
3. captures one further iteration into a :class:`torch.cuda.CUDAGraph`, and
4. replays that graph for every later iteration.

Maths stays identical to the eager body as long as the body obeys the rules of graph capture: no host
synchronisation (``.item()``, ``bool(tensor)``, data-dependent shapes), randomness only from torch's
generators, optimizers with ``capturable=True`` (set here for Adam/AdamW, with the learning rate held in a
device tensor that follows ``param_group['lr']``, so schedulers keep working). Without CUDA, or with
``enabled=False``, the body simply runs eagerly every iteration: same code, same results.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import torch

Tensor = torch.Tensor

#: Optimizers whose ``step`` can be captured once their param groups say ``capturable=True``.
CAPTURABLE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


class GraphedStep:
    """Capture ``body`` once and replay it; see the module docstring.

    Args:
        body: ``body(inputs) -> dict`` of tensors, where ``inputs`` maps names to the static tensors. It must
            zero (or set to None) the gradients it produces after its optimizer steps.
        optimizers: The optimizers ``body`` steps; switched to ``capturable=True`` when graphing.
        enabled: Capture and replay a CUDA graph. Requires CUDA tensors.
        warmup: Eager iterations before the capture (PyTorch recommends at least 3 for DDP, 1 elsewhere;
            cuDNN benchmarking and optimizer state allocation happen there).

    Attributes:
        calls: Iterations run so far; ``captured`` tells whether the graph exists.
    """

    def __init__(self, body: Callable[[Dict[str, Tensor]], Dict[str, Tensor]],
                 optimizers: Sequence[torch.optim.Optimizer], enabled: bool = True, warmup: int = 3):
        if warmup < 1 and enabled:
            raise ValueError(f"GraphedStep needs at least one warm-up iteration before capture, got {warmup}")
        self.body = body
        self.optimizers = list(optimizers)
        self.enabled = enabled
        self.warmup = warmup
        self.calls = 0
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self.static_inputs: Optional[Dict[str, Tensor]] = None
        self.static_outputs: Optional[Dict[str, Tensor]] = None
        self._lr_tensors: List[List[Tensor]] = []
        self._lr_written: Dict[tuple, float] = {}
        if enabled:
            bad = [type(o).__name__ for o in self.optimizers if not isinstance(o, CAPTURABLE_OPTIMIZERS)]
            if bad:
                raise ValueError(f"CUDA-graph training supports {[c.__name__ for c in CAPTURABLE_OPTIMIZERS]} "
                                 f"optimizers, got {bad}; set cuda_graph=False to train eagerly")

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def _stage(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
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
        """``capturable=True`` and a device learning-rate tensor in every param group."""
        self._lr_tensors = []
        for opt in self.optimizers:
            tensors = []
            for group in opt.param_groups:
                device = group['params'][0].device
                group['capturable'] = True
                tensors.append(torch.tensor(float(group['lr']), dtype=torch.float32, device=device))
                self._lr_written[(len(self._lr_tensors), len(tensors) - 1)] = float(group['lr'])
            self._lr_tensors.append(tensors)
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
        for i, (opt, tensors) in enumerate(zip(self.optimizers, self._lr_tensors)):
            for j, (group, lr) in enumerate(zip(opt.param_groups, tensors)):
                value = float(group['lr'])
                if self._lr_written.get((i, j)) != value:
                    lr.fill_(value)
                    self._lr_written[(i, j)] = value

    def _capture(self) -> None:
        for opt, tensors in zip(self.optimizers, self._lr_tensors):
            for group, lr in zip(opt.param_groups, tensors):
                group['_float_lr'] = group['lr']
                group['lr'] = lr
            opt.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: CUDA calls of other threads (a pin-memory thread, say) do not break the capture.
            with torch.cuda.graph(graph, capture_error_mode='thread_local'):
                outputs = self.body(self.static_inputs)
        finally:
            for opt in self.optimizers:
                for group in opt.param_groups:
                    group['lr'] = group.pop('_float_lr')
        self.graph = graph
        self.static_outputs = outputs

    def __call__(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Run one iteration on ``inputs`` (dict of tensors with fixed shapes) and return ``body``'s outputs.

        While graphed, the returned tensors are the graph's static outputs: the next call overwrites them,
        so clone what must outlive it.
        """
        static = self._stage(inputs)
        self.calls += 1
        if not self.enabled:
            return self.body(static)
        if self.calls == 1:
            off = sorted(k for k, v in static.items() if v.device.type != 'cuda')
            if off:
                raise ValueError(f"GraphedStep(enabled=True) captures CUDA graphs, but input(s) {off} are not on "
                                 "a CUDA device; pass enabled=False to run eagerly")
            self._make_capturable()
        if self.graph is not None:
            self._sync_lr()
            self.graph.replay()
            return self.static_outputs
        if self.calls <= self.warmup:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                outputs = self.body(static)
            torch.cuda.current_stream().wait_stream(stream)
            return outputs
        self._capture()
        # The capture records the iteration without running it: replay it once to run it.
        self._sync_lr()
        self.graph.replay()
        return self.static_outputs
