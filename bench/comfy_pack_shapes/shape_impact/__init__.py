import os
import sys

sys.path.append(os.path.join(os.path.dirname(__file__), "modules"))  # as large packs do

from impact.pipe_nodes import PIPE_CLASSES  # noqa: E402
from impact.sampler_nodes import SAMPLER_CLASSES  # noqa: E402
from impact import server_api  # noqa: E402,F401

print("### Loading: Shape Impact (fixture)")

NODE_CLASS_MAPPINGS = {**PIPE_CLASSES, **SAMPLER_CLASSES}
NODE_DISPLAY_NAME_MAPPINGS = {"ToBasicPipe (shape)": "ToBasicPipe"}
WEB_DIRECTORY = "js"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
