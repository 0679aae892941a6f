"""Latency, throughput and the stopwatch: positive numbers, the model handed back as it came."""

from __future__ import annotations

import time

import pytest
from torch import nn

from imgrec.evaluation.timing import Stopwatch, measure_latency, measure_throughput

SHAPE = (3, 16, 16)


def tiny_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )


@pytest.mark.parametrize("training", [True, False])
def test_latency_is_positive_and_restores_mode(training: bool) -> None:
    model = tiny_model().train(training)
    result = measure_latency(model, SHAPE, warmup=2, iterations=12)
    assert result["batch_size"] == 1
    assert result["iterations"] == 12
    assert 0 < result["min_ms"] <= result["p50_ms"] <= result["p95_ms"]
    assert result["mean_ms"] > 0
    assert result["device"] == "cpu"
    assert model.training is training
    assert all(m.training is training for m in model.modules())


def test_latency_stops_at_time_budget_after_five_iterations() -> None:
    result = measure_latency(tiny_model(), SHAPE, warmup=1, iterations=1000, max_seconds=0.0)
    assert result["iterations"] == 5


def test_throughput_is_positive_and_restores_mode() -> None:
    model = tiny_model().train()
    result = measure_throughput(model, SHAPE, batch_size=8, iterations=3)
    assert result["images_per_second"] > 0
    assert result["batch_size"] == 8
    assert result["iterations"] == 3
    assert model.training


def test_throughput_stops_at_time_budget() -> None:
    result = measure_throughput(tiny_model(), SHAPE, batch_size=4, iterations=1000, max_seconds=0.0)
    assert result["iterations"] == 1
    assert result["images_per_second"] > 0


def test_channels_last_is_undone_afterwards() -> None:
    model = tiny_model()
    measure_latency(model, SHAPE, warmup=1, iterations=5, channels_last=True)
    measure_throughput(model, SHAPE, batch_size=2, iterations=1, channels_last=True)
    conv = model[0]
    assert isinstance(conv, nn.Conv2d)
    assert conv.weight.is_contiguous()


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        measure_latency(tiny_model(), (16, 16), iterations=5)
    with pytest.raises(ValueError, match="iterations"):
        measure_latency(tiny_model(), SHAPE, iterations=0)
    with pytest.raises(ValueError, match="batch_size"):
        measure_throughput(tiny_model(), SHAPE, batch_size=0)


@pytest.mark.gpu
def test_cuda_timings_hand_the_model_back_on_cpu() -> None:
    model = tiny_model()
    latency = measure_latency(model, SHAPE, device="cuda", iterations=10, channels_last=True)
    throughput = measure_throughput(model, SHAPE, device="cuda", batch_size=64)
    assert latency["p50_ms"] > 0 and throughput["images_per_second"] > 0
    assert latency["device"] == throughput["device"] == "cuda"
    assert next(model.parameters()).device.type == "cpu"


def test_stopwatch_accumulates_segments() -> None:
    watch = Stopwatch()
    assert watch.elapsed == 0.0 and not watch.running
    with watch:
        time.sleep(0.01)
        assert watch.running and watch.elapsed > 0
    first = watch.elapsed
    assert first >= 0.01
    time.sleep(0.01)
    assert watch.elapsed == first  # stopped: no time passes
    watch.start()
    time.sleep(0.01)
    total = watch.stop()
    assert total == watch.elapsed >= first + 0.01
    watch.reset()
    assert watch.elapsed == 0.0


def test_stopwatch_misuse_raises() -> None:
    watch = Stopwatch()
    with pytest.raises(RuntimeError, match="not running"):
        watch.stop()
    watch.start()
    with pytest.raises(RuntimeError, match="already running"):
        watch.start()
