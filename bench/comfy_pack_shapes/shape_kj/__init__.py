from .nodes.image_nodes import IMAGE_NODES
from .nodes.misc_nodes import MISC_NODES

NODE_CONFIG = {**IMAGE_NODES, **MISC_NODES}


def generate_node_mappings(config):
    classes, names = {}, {}
    for name, info in config.items():
        classes[name] = info["class"]
        names[name] = info.get("name", info["class"].__name__)
    return classes, names


NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = generate_node_mappings(NODE_CONFIG)
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
