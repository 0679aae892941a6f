"""``zoo:selfie``: the shipped ONNX person segmenter on scikit-image's bundled photos.

The boxes were chosen by looking at the photos and the masks (xyxy, pixels of the original
image). The model is a selfie segmenter: it assumes a person is present and also masks a
close-up animal (``chelsea``, the cat, comes out ~93% "person"), so no test asks it to say
"no person" about a photo dominated by one subject other than the cup below.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import Image

from imgrec.errors import ConfigError, ModelError, SetupError
from imgrec.models.zoo_segment import ZOO_DIR, ZooSegmenter, list_zoo_segmenters

ASTRONAUT_CORE = (150, 60, 280, 400)  # face, neck ring and chest of the suit
ASTRONAUT_CORNER = (384, 0, 512, 128)  # top right: grey backdrop and the shuttle model's nose
CAMERA_HEAD = (170, 70, 250, 150)
CAMERA_TORSO = (50, 180, 160, 320)
CAMERA_SKY = (0, 0, 512, 50)
CAMERA_GRASS = (420, 330, 512, 512)  # bottom right, beside the tripod


def _share(mask: np.ndarray, box: tuple[int, int, int, int] | None = None) -> float:
    if box is not None:
        x0, y0, x1, y1 = box
        mask = mask[y0:y1, x0:x1]
    return float(mask.mean())


@pytest.fixture(scope="module")
def seg() -> ZooSegmenter:
    return ZooSegmenter.load("zoo:selfie")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "camera": Image.fromarray(skimage.data.camera()),  # greyscale ("L"), a person
        "coffee": Image.fromarray(skimage.data.coffee()),
        "rocket": Image.fromarray(skimage.data.rocket()),
    }


@pytest.fixture(scope="module")
def masks(seg: ZooSegmenter, photos: dict[str, Image.Image]) -> dict[str, np.ndarray]:
    return dict(zip(photos, seg.masks(list(photos.values())), strict=True))


def test_listed_and_shipped() -> None:
    assert list_zoo_segmenters() == ["zoo:selfie"]  # the detector's sidecar is not listed
    spec = json.loads((ZOO_DIR / "selfie.json").read_text())
    assert spec["source"]["licence"] == "MIT" and spec["upstream_licence"] == "Apache-2.0"
    licence = (ZOO_DIR / "LICENSE-human-models.txt").read_text()
    assert "selfie.onnx" in licence and "Apache-2.0" in licence
    assert (ZOO_DIR / "selfie.onnx").stat().st_size < 1_000_000


def test_spec(seg: ZooSegmenter) -> None:
    assert seg.name == "zoo:selfie" and repr(seg) == "ZooSegmenter('zoo:selfie', input 256x256)"
    assert seg.classes == ["background", "person"]
    assert seg.threshold == 0.5
    assert ZooSegmenter.load("selfie").name == "zoo:selfie"  # the prefix is optional


def test_astronaut(masks: dict[str, np.ndarray]) -> None:
    mask = masks["astronaut"]
    assert 0.35 < _share(mask) < 0.70  # 0.55: the astronaut and the helmet she holds
    assert _share(mask, ASTRONAUT_CORE) > 0.85  # 0.95
    assert _share(mask, ASTRONAUT_CORNER) < 0.05  # 0.0


def test_cameraman_greyscale(masks: dict[str, np.ndarray]) -> None:
    mask = masks["camera"]
    assert 0.15 < _share(mask) < 0.60  # 0.33
    assert _share(mask, CAMERA_HEAD) > 0.85 and _share(mask, CAMERA_TORSO) > 0.85
    assert _share(mask, CAMERA_SKY) < 0.05 and _share(mask, CAMERA_GRASS) < 0.05


def test_photos_without_people(masks: dict[str, np.ndarray]) -> None:
    assert _share(masks["rocket"]) < 0.02  # 0.0
    # the cup is the salient subject and comes out partly "person" (0.19), still far less
    # than the astronaut
    assert _share(masks["coffee"]) < 0.30
    assert _share(masks["coffee"]) < 0.5 * _share(masks["astronaut"])


def test_output_contract(seg: ZooSegmenter, photos: dict[str, Image.Image]) -> None:
    images = list(photos.values())
    probs = seg.segment(images)
    assert len(probs) == len(images) and seg.segment([]) == []
    for image, prob in zip(images, probs, strict=True):
        assert prob.shape == (image.height, image.width) and prob.dtype == np.float32
        assert prob.min() >= 0.0 and prob.max() <= 1.0
    one = seg.segment([images[0]])[0]
    np.testing.assert_array_equal(one, probs[0])  # batching changes nothing
    [mask] = seg.masks([images[0]], threshold=0.9)
    assert mask.dtype == np.bool_ and np.array_equal(mask, probs[0] > 0.9)


def test_equals_onnxruntime_at_input_size(seg: ZooSegmenter) -> None:
    """At 256x256 RGB no resizing happens: the map is the raw model output."""
    import onnxruntime as ort

    image = Image.fromarray(skimage.data.astronaut()).resize((256, 256))
    session = ort.InferenceSession(str(ZOO_DIR / "selfie.onnx"), providers=["CPUExecutionProvider"])
    x = (np.asarray(image, np.float32) / 255.0)[None]
    (raw,) = session.run([seg.spec["output_name"]], {seg.spec["input_name"]: x})
    np.testing.assert_allclose(seg.segment([image])[0], raw[0, :, :, 0], atol=1e-6)


def test_odd_inputs(seg: ZooSegmenter, photos: dict[str, Image.Image]) -> None:
    astronaut = photos["astronaut"]
    [reference] = seg.segment([astronaut])
    rgba = astronaut.convert("RGBA")
    rgba.putalpha(128)  # alpha is ignored
    big = astronaut.resize((4000, 3000), Image.Resampling.BILINEAR)
    tiny = astronaut.resize((13, 7))
    images = [rgba, big, tiny, astronaut.convert("P"), astronaut.convert("LA")]
    got = seg.segment(images)
    for image, prob in zip(images, got, strict=True):
        assert prob.shape == (image.height, image.width) and prob.dtype == np.float32
    np.testing.assert_array_equal(got[0], reference)
    big_share, ref_share = float((got[1] > 0.5).mean()), float((reference > 0.5).mean())
    assert abs(big_share - ref_share) < 0.05
    assert abs(float((got[3] > 0.5).mean()) - ref_share) < 0.05
    assert abs(float((got[4] > 0.5).mean()) - ref_share) < 0.10  # greyscale + alpha: 0.575


class _FakeSession:
    def __init__(self, out: np.ndarray) -> None:
        self.out = out
        self.seen: list[np.ndarray] = []

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.seen.extend(feeds.values())
        return [self.out]


def test_softmax_nchw_bgr_decoding(seg: ZooSegmenter) -> None:
    """The sidecar fields the shipped model does not use: two logit channels, NCHW, BGR."""
    spec: dict[str, Any] = {
        **seg.spec,
        "input_size": [4, 6],
        "layout": "NCHW",
        "channel_order": "BGR",
        "mean": [1.0, 2.0, 3.0],
        "std": [2.0, 2.0, 2.0],
        "decoder": "softmax",
        "person_channel": 1,
    }
    logits = np.zeros((1, 2, 4, 6), np.float32)
    logits[0, 1, :, 3:] = 10.0  # right half: person
    session = _FakeSession(logits)
    fake = ZooSegmenter("zoo:fake", spec, session)
    image = Image.fromarray(np.full((4, 6, 3), (10, 20, 30), np.uint8))
    [prob] = fake.segment([image])
    (x,) = session.seen
    assert x.shape == (1, 3, 4, 6)
    np.testing.assert_allclose(x[0, :, 0, 0], [(30 - 1) / 2, (20 - 2) / 2, (10 - 3) / 2])
    np.testing.assert_allclose(prob[:, :3], 0.5, atol=1e-6)
    assert np.all(prob[:, 3:] > 0.99)


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"zoo:selfie"):
        ZooSegmenter.load("zoo:nonexistent")
    with pytest.raises(ConfigError, match=r"unknown zoo segmenter 'zoo:nanodet-coco'"):
        ZooSegmenter.load("zoo:nanodet-coco")  # a detector
    with pytest.raises(ConfigError, match=r"available: none"):
        ZooSegmenter.load("zoo:selfie", zoo_dir=tmp_path)


def _copy_sidecar(tmp_path: Path, **changes: Any) -> Path:
    spec = json.loads((ZOO_DIR / "selfie.json").read_text())
    spec.update(changes)
    (tmp_path / "selfie.json").write_text(json.dumps(spec))
    return tmp_path


def test_missing_onnx_file(tmp_path: Path) -> None:
    folder = _copy_sidecar(tmp_path)
    assert list_zoo_segmenters(zoo_dir=folder) == []
    with pytest.raises(ModelError, match=r"selfie\.onnx is missing.*convert_human_models"):
        ZooSegmenter.load("zoo:selfie", zoo_dir=folder)


def test_corrupt_onnx_file(tmp_path: Path) -> None:
    folder = _copy_sidecar(tmp_path)
    (folder / "selfie.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match=r"not a loadable ONNX model"):
        ZooSegmenter.load("zoo:selfie", zoo_dir=folder)


def test_bad_sidecars(tmp_path: Path) -> None:
    shutil.copy(ZOO_DIR / "selfie.onnx", tmp_path / "selfie.onnx")
    spec = json.loads((ZOO_DIR / "selfie.json").read_text())
    del spec["threshold"]
    (tmp_path / "selfie.json").write_text(json.dumps(spec))
    with pytest.raises(ModelError, match=r"lacks threshold"):
        ZooSegmenter.load("selfie", zoo_dir=tmp_path)
    _copy_sidecar(tmp_path, decoder="argmax")
    with pytest.raises(ModelError, match=r"unsupported decoder 'argmax'"):
        ZooSegmenter.load("selfie", zoo_dir=tmp_path)
    (tmp_path / "selfie.json").write_text("{not json")
    assert list_zoo_segmenters(zoo_dir=tmp_path) == []
    with pytest.raises(ModelError, match=r"cannot be read"):
        ZooSegmenter.load("selfie", zoo_dir=tmp_path)


def test_missing_onnxruntime_is_a_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(SetupError, match="onnxruntime"):
        ZooSegmenter.load("selfie")


def test_runs_without_torch() -> None:
    code = (
        "import sys; from PIL import Image; from imgrec.models.zoo_segment import ZooSegmenter; "
        "ZooSegmenter.load('selfie').segment([Image.new('RGB', (9, 9))]); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
