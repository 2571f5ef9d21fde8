# A pack written the way many current ComfyUI packs are: V1 classes typed with
# comfy.comfy_types, node_helpers for images, and V3 nodes with a type of their own
# (io.comfytype), a several-types input (io.MultiType) and ComfyUI's media types (io.Video).
from .typed_v1 import NODE_CLASS_MAPPINGS as _V1
from .typed_v3 import Ticket, TicketPrint, TicketMake

NODE_CLASS_MAPPINGS = {**_V1, "TicketMake": TicketMake, "TicketPrint": TicketPrint}
NODE_DISPLAY_NAME_MAPPINGS = {"Scale Number (Typing)": "Scale a number"}
