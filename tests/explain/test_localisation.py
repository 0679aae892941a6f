"""The explanations mean something: the pointing game and the model-randomisation check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imgrec.data.synth import render_mask
from imgrec.explain.heatmaps import compute_heatmaps
from imgrec.explain.localisation import (
    peak_of,
    pointing_game,
    rank_correlations,
    reinitialised,
    sanity_check,
)
from imgrec.models.registry import create_model
from tests.explain.conftest import TrainedShapes


def test_pointing_game_counts_peaks_inside_the_mask() -> None:
    masks = np.zeros((3, 8, 8), dtype=bool)
    masks[:, 2:5, 2:5] = True
    heat = np.zeros((3, 8, 8), dtype=np.float32)
    heat[0, 3, 3] = 1.0  # inside
    heat[1, 6, 6] = 1.0  # outside, two pixels from the mask's corner (4, 4)
    # heat[2] is all zero: no peak, a miss
    score, hits = pointing_game(heat, masks)
    assert score == pytest.approx(1 / 3)
    assert hits.tolist() == [True, False, False]
    assert pointing_game(heat, masks, tolerance=2)[1].tolist() == [True, True, False]


def test_a_flat_peak_is_taken_at_its_centre_not_its_corner() -> None:
    heat = np.zeros((9, 9), dtype=np.float32)
    heat[1:8, 1:8] = 1.0  # a superpixel-like plateau
    assert peak_of(heat) == (4, 4)
    ring = np.zeros((9, 9), dtype=np.float32)  # a plateau whose centre is not on it
    ring[0, :], ring[:, 0] = 1.0, 1.0
    y, x = peak_of(ring)
    assert ring[y, x] == 1.0


def test_rank_correlation_of_identical_reversed_and_constant_maps() -> None:
    a = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    rho = rank_correlations(np.concatenate([a, a, a]), np.concatenate([a, -a, a * 0]))
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(-1.0)
    assert np.isnan(rho[2])


def test_reinitialised_model_has_new_weights_everywhere() -> None:
    model = create_model("vit_tiny", num_classes=4, img_size=32, depth=1)
    fresh = reinitialised(model, seed=1)
    before = dict(model.named_parameters())
    for name, p in fresh.named_parameters():
        if p.numel() > 1 and before[name].std() > 0:
            assert not torch.equal(p, before[name]), name
    assert reinitialised(model, seed=1).state_dict().keys() == model.state_dict().keys()


@pytest.mark.slow
def test_gradcam_points_at_the_object(trained_shapes: TrainedShapes) -> None:
    t = trained_shapes
    assert t.accuracy >= 0.75
    masks = np.stack([render_mask(r, 64) for r in t.records])
    for method, floor in (("gradcam", 0.75), ("gradcam++", 0.7)):
        heat = compute_heatmaps(
            t.model, t.pixels, t.labels.tolist(), preprocessing=t.preprocessing, method=method
        )
        score, _ = pointing_game(heat, masks)
        assert score >= floor, (method, score)
    # The baseline a heatmap must beat: always pointing at the image centre.
    centre = np.zeros_like(heat)
    centre[:, 32, 32] = 1.0
    assert pointing_game(centre, masks)[0] < 0.75


@pytest.mark.slow
def test_gradcam_passes_the_model_randomisation_check(trained_shapes: TrainedShapes) -> None:
    t = trained_shapes
    result = sanity_check(
        t.model,
        t.pixels[:40],
        t.labels[:40].tolist(),
        preprocessing=t.preprocessing,
        method="gradcam",
    )
    assert result["mean"] is not None and result["mean"] < 0.4, result
    assert len(result["per_image"]) == 40
