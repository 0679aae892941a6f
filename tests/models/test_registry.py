"""The registry: names, options, type checks, duplicate names (no model is trained here)."""

from __future__ import annotations

import pytest

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier
from imgrec.models.registry import create_model, list_models, model_options, register_model

BUILTINS = ["mlp", "resnet18", "simple_cnn", "vit_tiny"]


def test_list_models_builtins_and_patterns() -> None:
    assert list_models() == BUILTINS
    assert list_models("simple*") == ["simple_cnn"]
    assert list_models("nothing*") == []


def test_list_models_library_families() -> None:
    assert "tv:mobilenet_v3_small" in list_models("tv:mobilenet*")
    assert "timm:resnet10t" in list_models("timm:resnet1*")
    assert all(n.startswith("tv:") for n in list_models("tv:*"))


def test_unknown_name_lists_valid_ones_and_the_nearest() -> None:
    with pytest.raises(ModelError) as err:
        create_model("resnet81", num_classes=3)
    message = str(err.value)
    assert "Did you mean 'resnet18'" in message
    assert all(name in message for name in BUILTINS)
    assert "tv:" in message and "timm:" in message


def test_unknown_library_name_suggests() -> None:
    with pytest.raises(ModelError, match="tv:resnet18"):
        create_model("tv:resnet181", num_classes=3)
    with pytest.raises(ModelError, match="unknown model family"):
        create_model("keras:resnet", num_classes=3)


def test_model_options_from_builder_signature() -> None:
    assert model_options("simple_cnn") == {"width": 32, "depth": 2, "dropout": 0.25, "hidden": 128}
    assert model_options("resnet18") == {"small_stem": None}
    assert model_options("mlp")["hidden"] == (512, 256)
    assert set(model_options("vit_tiny")) >= {"depth", "patch_size"}
    assert "zero_init_residual" in model_options("tv:resnet18")
    assert "drop_rate" in model_options("timm:resnet10t")


def test_unknown_option_names_it_and_lists_valid_ones() -> None:
    with pytest.raises(ModelError) as err:
        create_model("simple_cnn", num_classes=3, widht=8)
    assert "widht" in str(err.value)
    assert all(k in str(err.value) for k in ("width", "depth", "dropout"))


@pytest.mark.parametrize("name", ["tv:resnet18", "timm:resnet10t"])
def test_unknown_library_option(name: str) -> None:
    with pytest.raises(ModelError) as err:
        create_model(name, num_classes=3, img_size=32, not_an_option=1)
    assert "not_an_option" in str(err.value)
    assert "zero_init_residual" in str(err.value) or "drop_rate" in str(err.value)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"width": "32"}, "int"),
        ({"width": True}, "int"),
        ({"dropout": "x"}, "float"),
        ({"depth": 2.0}, "int"),
    ],
)
def test_wrong_option_type(options: dict[str, object], needle: str) -> None:
    with pytest.raises(ModelError) as err:
        create_model("simple_cnn", num_classes=3, img_size=28, **options)
    assert next(iter(options)) in str(err.value) and needle in str(err.value)


def test_option_coercion_int_to_float_and_list_to_tuple() -> None:
    assert create_model("simple_cnn", num_classes=3, img_size=28, dropout=0).options["dropout"] == 0
    m = create_model("mlp", num_classes=3, img_size=8, hidden=[16, 8])
    assert m.options["hidden"] == [16, 8] and m.num_features == 8
    with pytest.raises(ModelError, match="hidden"):
        create_model("mlp", num_classes=3, img_size=8, hidden=[16, "8"])
    with pytest.raises(ModelError, match="small_stem"):
        create_model("resnet18", num_classes=3, img_size=32, small_stem="yes")


def test_library_options_must_be_json() -> None:
    with pytest.raises(ModelError, match="JSON"):
        create_model("tv:resnet18", num_classes=3, norm_layer=object())


def test_duplicate_registration_refused() -> None:
    def simple_cnn(*, num_classes: int, in_chans: int, img_size: int) -> ImageClassifier:
        raise AssertionError("never built")

    list_models()  # the built-in builders are registered on first use
    with pytest.raises(ModelError, match="already registered"):
        register_model(simple_cnn)


def test_builder_must_take_the_common_parameters() -> None:
    def no_img_size(*, num_classes: int, in_chans: int) -> ImageClassifier:
        raise AssertionError("never built")

    with pytest.raises(ModelError, match="img_size"):
        register_model(no_img_size)
    assert "no_img_size" not in list_models()


def test_pretrained_builtin_needs_a_weights_file() -> None:
    with pytest.raises(ModelError, match="--weights"):
        create_model("simple_cnn", num_classes=3, pretrained=True)
