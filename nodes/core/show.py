"""Showing a value in the editor and on the command line."""
from nodeflow import AnyType, node


@node(category="utils", output=True, display_name="Show Value")
def ShowValue(value: AnyType, *, ctx) -> None:
    """Show any value as text (the CLI prints it; the editor shows it on the node)."""
    text = value if isinstance(value, str) else repr(value)
    ctx.report(text=[text])
