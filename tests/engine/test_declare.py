"""The @node decorator: inputs, outputs, schema, and declaration errors."""
from __future__ import annotations

from typing import NamedTuple, Optional

import pytest

from nodeflow import Field, Image, Latent, Mask, node
from nodeflow.errors import DeclarationError
from nodeflow.types import Float, Int, can_connect

from . import toy_nodes


def test_single_output_is_named_after_its_type():
    assert [(o.name, o.socket.type_name) for o in toy_nodes.Decode.outputs] == [("image", "IMAGE")]
    assert [o.name for o in toy_nodes.Add.outputs] == ["int"]


def test_named_tuple_gives_named_outputs():
    assert [(o.name, o.socket.type_name) for o in toy_nodes.Split.outputs] == [
        ("number", "INT"), ("label", "STRING")]
    assert toy_nodes.Split.outputs_from_result(toy_nodes.Pair(3, "x")) == {"number": 3,
                                                                           "label": "x"}


def test_schema_carries_what_the_editor_renders():
    schema = toy_nodes.Scale.schema()
    assert schema["category"] == "test" and schema["version"] == "1.0.0"
    factor = schema["inputs"][1]
    assert factor == {"name": "factor", "type": "FLOAT", "required": False, "default": 1.0,
                      "min": 0.0, "max": 10.0}
    assert schema["inputs"][0]["required"] is True
    assert toy_nodes.Pick.schema()["inputs"][0]["choices"] == ["a", "b"]
    decode = toy_nodes.Decode.schema()["inputs"][0]
    assert decode["link_only"] is True and decode["type"] == "LATENT"


def test_description_and_display_name_defaults():
    @node(category="x")
    def LoadSomeThing(value: int) -> int:
        """Loads a thing.

        More text that is not the summary."""
        return value

    assert LoadSomeThing.display_name == "Load Some Thing"
    assert LoadSomeThing.description == "Loads a thing."
    assert LoadSomeThing(4) == 4  # still callable as a function


def test_optional_inputs():
    @node
    def Masked(image: Image, mask: Optional[Mask] = None, strength: float | None = None) -> Image:
        return image

    assert Masked.inputs["mask"].optional and not Masked.inputs["mask"].required
    assert Masked.inputs["strength"].adapter.validate_python(None) is None
    assert Masked.inputs["image"].required


def test_int_feeds_float_but_not_the_reverse():
    assert can_connect("INT", Float)
    assert not can_connect("FLOAT", Int)
    assert not can_connect("LATENT", Int)


def _one() -> int:
    return 1


@pytest.mark.parametrize("kwargs, words", [
    ({"version": "1.0"}, "semver"),
    ({"version": "v1.0.0"}, "semver"),
    ({"name": "bad\nname"}, "control character"),
    ({"name": ""}, "non-empty"),
])
def test_bad_declarations(kwargs, words):
    with pytest.raises(DeclarationError, match=words):
        node(**kwargs)(_one)


def test_declaration_errors_name_the_problem():
    with pytest.raises(DeclarationError, match="needs a type annotation"):
        @node
        def NoHint(x) -> int:
            return 1
    with pytest.raises(DeclarationError, match="default of input 'x' is invalid"):
        @node
        def BadDefault(x: int = Field(500, le=100)) -> int:
            return x
    with pytest.raises(DeclarationError, match="output=True"):
        @node
        def NoOutputs(x: int) -> None:
            return None
    with pytest.raises(DeclarationError, match="can only default to None"):
        @node
        def LinkDefault(latent: Latent = 3) -> int:
            return 1
    with pytest.raises(DeclarationError, match="not a socket type"):
        @node
        def WeirdReturn(x: int) -> list:
            return []
    with pytest.raises(DeclarationError, match="\\*args"):
        @node
        def Star(*xs: int) -> int:
            return 1


class Three(NamedTuple):
    a: int
    b: int


def test_runtime_output_check():
    with pytest.raises(TypeError, match="should be INT"):
        toy_nodes.BadOutput.outputs_from_result("not an int")

    @node
    def Wrong(x: int) -> Three:
        return (1,)

    with pytest.raises(TypeError, match="declares 2 outputs but returned 1"):
        Wrong.outputs_from_result((1,))
