# A small pack written the way ComfyUI packs are (for nodeflow's compatibility tests).
from .image_nodes import NODE_CLASS_MAPPINGS as IMAGE_NODES, NODE_DISPLAY_NAME_MAPPINGS as NAMES
from .flow_nodes import FLOW_NODES

print("### Test Pack V1: loaded 10 nodes ###")  # packs print banners at import

NODE_CLASS_MAPPINGS = {**IMAGE_NODES, **FLOW_NODES}
NODE_DISPLAY_NAME_MAPPINGS = dict(NAMES)
WEB_DIRECTORY = "./web"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
