from .utility import any_type


class ShapeGetNodeInfo:
    """Reads its own entry from the running prompt (DYNPROMPT)."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"anything": (any_type, {})},
                "hidden": {"unique_id": "UNIQUE_ID", "dynprompt": "DYNPROMPT"}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "info"
    CATEGORY = "shape/misc"

    def info(self, anything, unique_id, dynprompt):
        return (dynprompt.get_node(unique_id)["class_type"],)


class ShapeWidgetToString:
    """Reads another node's widget value from the prompt (PROMPT)."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"id": ("INT", {"default": 0}),
                             "widget_name": ("STRING", {"default": "text"})},
                "hidden": {"prompt": "PROMPT"}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "get"
    CATEGORY = "shape/misc"

    def get(self, id, widget_name, prompt):
        node = prompt.get(str(id))
        return (str(node["inputs"].get(widget_name, "")) if node else "",)


class ShapeDummyOut:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"any_input": (any_type, {})}}

    RETURN_TYPES = (any_type,)
    FUNCTION = "dummy"
    CATEGORY = "shape/misc"
    OUTPUT_NODE = True

    def dummy(self, any_input):
        return (any_input,)


MISC_NODES = {
    "GetNodeInfo (shape)": {"class": ShapeGetNodeInfo},
    "WidgetToString (shape)": {"class": ShapeWidgetToString},
    "DummyOut (shape)": {"class": ShapeDummyOut},
}
