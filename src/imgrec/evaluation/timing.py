"""Timings of a run: train wall time, batch-1 inference latency and large-batch throughput.

Measurements use ``time.perf_counter`` around ``torch.inference_mode()`` forward passes of random
inputs; on CUDA the device is synchronised before each clock read so that the time covers the
kernels, not just their launch. The model is measured in ``eval()`` mode on the requested device
and is handed back in the training mode, device and memory format it came in with.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Stopwatch", "measure_latency", "measure_throughput"]

_MIN_LATENCY_ITERATIONS = 5


class Stopwatch:
    """Wall-clock stopwatch that accumulates over start/stop segments.

    Use as ``with Stopwatch() as sw: ...`` then ``sw.elapsed``, or call :meth:`start` and
    :meth:`stop` (which returns the total so far). ``elapsed`` includes a running segment.
    """

    def __init__(self) -> None:
        self._total = 0.0
        self._started: float | None = None

    @property
    def running(self) -> bool:
        return self._started is not None

    @property
    def elapsed(self) -> float:
        """Seconds measured so far, including the current segment if running."""
        if self._started is None:
            return self._total
        return self._total + time.perf_counter() - self._started

    def start(self) -> Stopwatch:
        if self._started is not None:
            raise RuntimeError("the stopwatch is already running; stop() it first")
        self._started = time.perf_counter()
        return self

    def stop(self) -> float:
        if self._started is None:
            raise RuntimeError("the stopwatch is not running; start() it first")
        self._total += time.perf_counter() - self._started
        self._started = None
        return self._total

    def reset(self) -> None:
        self._total, self._started = 0.0, None

    def __enter__(self) -> Stopwatch:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_channels_last(model: nn.Module) -> bool:
    weights = [p for p in model.parameters() if p.ndim == 4]
    return bool(weights) and all(
        w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
        for w in weights
    )


@contextmanager
def _prepared(model: nn.Module, device: torch.device, channels_last: bool) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode on ``device``; restore mode, device and memory format after."""
    was_training = model.training
    param = next(model.parameters(), None)
    old_device = param.device if param is not None else None
    was_channels_last = _is_channels_last(model)
    model.eval()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        if channels_last and not was_channels_last:
            model.to(memory_format=torch.contiguous_format)
        if old_device is not None and old_device != device:
            model.to(old_device)
        model.train(was_training)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _input(batch: int, shape: tuple[int, int, int], device: torch.device, cl: bool) -> torch.Tensor:
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {shape}")
    x = torch.randn(batch, *shape, device=device)
    return x.contiguous(memory_format=torch.channels_last) if cl else x


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 5,
    iterations: int = 30,
    channels_last: bool = False,
    max_seconds: float = 10.0,
) -> dict[str, Any]:
    """Batch-1 latency of one forward pass.

    Runs ``warmup`` untimed passes, then up to ``iterations`` timed ones; stops early once
    ``max_seconds`` (warm-up included) have passed, but never before 5 timed passes (or
    ``iterations`` if fewer were asked for).

    Returns:
        ``{"batch_size": 1, "p50_ms", "p95_ms", "mean_ms", "min_ms", "iterations", "device",
        "channels_last"}``.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    device = torch.device(device)
    minimum = min(_MIN_LATENCY_ITERATIONS, iterations)
    times: list[float] = []
    with _prepared(model, device, channels_last) as net, torch.inference_mode():
        x = _input(1, input_shape, device, channels_last)
        begin = time.perf_counter()
        for _ in range(warmup):
            net(x)
            if time.perf_counter() - begin > max_seconds:
                break
        _sync(device)
        for _ in range(iterations):
            t0 = time.perf_counter()
            net(x)
            _sync(device)
            t1 = time.perf_counter()
            times.append(t1 - t0)
            if len(times) >= minimum and t1 - begin > max_seconds:
                break
    ms = np.asarray(times) * 1000.0
    return {
        "batch_size": 1,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "iterations": len(times),
        "device": str(device),
        "channels_last": channels_last,
    }


def measure_throughput(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    iterations: int = 10,
    warmup: int = 2,
    max_seconds: float = 10.0,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Images per second of forward passes on ``batch_size`` images.

    Runs ``warmup`` untimed passes, then up to ``iterations`` timed ones; stops early once
    ``max_seconds`` (warm-up included) have passed, after at least one timed pass.

    Returns:
        ``{"images_per_second", "batch_size", "iterations", "seconds", "device",
        "channels_last"}``.
    """
    if batch_size < 1 or iterations < 1:
        raise ValueError(f"batch_size and iterations must be >= 1, got {batch_size}, {iterations}")
    device = torch.device(device)
    done = 0
    with _prepared(model, device, channels_last) as net, torch.inference_mode():
        x = _input(batch_size, input_shape, device, channels_last)
        begin = time.perf_counter()
        for _ in range(warmup):
            net(x)
            if time.perf_counter() - begin > max_seconds:
                break
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(iterations):
            net(x)
            _sync(device)  # per pass, so that the time budget sees finished work
            done += 1
            if time.perf_counter() - begin > max_seconds:
                break
        seconds = time.perf_counter() - t0
    return {
        "images_per_second": done * batch_size / seconds,
        "batch_size": batch_size,
        "iterations": done,
        "seconds": seconds,
        "device": str(device),
        "channels_last": channels_last,
    }
