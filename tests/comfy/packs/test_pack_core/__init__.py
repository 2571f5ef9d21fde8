# A pack that leans on ComfyUI's core: it calls and subclasses classes of ComfyUI's `nodes`
# module, adds routes through PromptServer.instance.app, reads the running prompt and the
# queue, declares a forceInput input and a DYNPROMPT hidden input (for nodeflow's tests).
from .core_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from . import routes  # noqa: F401  (registers the pack's HTTP routes)

WEB_DIRECTORY = "./web"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
