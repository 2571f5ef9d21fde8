# A pack shaped like the LoRA-stack packs (for nodeflow's tests): a node whose optional inputs
# take any name, filled by widgets its editor extension adds one row at a time, and a node
# with an input of the pack's own type that the extension draws a widget for.
from .stack_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
