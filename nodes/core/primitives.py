"""One value typed once and linked into several inputs (a seed, a size, a prompt)."""
from nodeflow import Field, node


@node(category="primitives", display_name="Integer")
def PrimitiveInt(value: int = Field(0, ge=-(2**63), le=2**64 - 1)) -> int:
    """An integer to link into INT or FLOAT inputs."""
    return value


@node(category="primitives", display_name="Float")
def PrimitiveFloat(value: float = 0.0) -> float:
    """A number to link into FLOAT inputs."""
    return value


@node(category="primitives", display_name="Text")
def PrimitiveString(value: str = Field("", multiline=True)) -> str:
    """A text to link into STRING inputs, such as a prompt used twice."""
    return value


@node(category="primitives", display_name="Boolean")
def PrimitiveBoolean(value: bool = False) -> bool:
    """A switch to link into BOOLEAN inputs."""
    return value
