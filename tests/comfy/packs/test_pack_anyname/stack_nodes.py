"""Nodes that report every keyword argument they were called with, so tests can see what
reached them."""
import json


class HoldsEveryName(dict):
    """Optional inputs that say they hold any name: ComfyUI then passes every widget value and
    link the editor gives the node, declared or not. Iterating yields the declared ones."""

    def __init__(self, kind, declared=None):
        super().__init__(declared or {})
        self.kind = kind

    def __contains__(self, name):
        return True

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return (self.kind,)


class MatchesAnyType(str):
    """The "*" type that no type compares unequal to."""

    def __ne__(self, other):
        return False


ANY = MatchesAnyType("*")


class LoraStackTest:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_name": ("STRING", {"default": "base"})},
                "optional": HoldsEveryName(ANY, {"scale": ("FLOAT", {"default": 1.0, "min": 0.0,
                                                                     "max": 4.0})})}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("summary",)
    FUNCTION = "stack"
    OUTPUT_NODE = True
    CATEGORY = "test pack/loras"

    def stack(self, model_name, scale=1.0, **rows):
        used = [f"{row['lora']}@{row['strength'] * scale:g}" for name, row in sorted(rows.items())
                if name.startswith("lora_") and isinstance(row, dict) and row.get("on")]
        text = f"{model_name}<{','.join(used)}>"
        received = json.dumps(rows, sort_keys=True)
        return {"ui": {"text": [text, f"received {received}"]}, "result": (text,)}


class CountTest:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "give"
    CATEGORY = "test pack/loras"

    def give(self, count):
        return (count * 10,)


class TintTest:
    """An input of the pack's own type: the extension's getCustomWidgets draws its widget."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tint": ("TEST_TINT", {"default": "grey"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "describe"
    OUTPUT_NODE = True
    CATEGORY = "test pack/loras"

    def describe(self, tint):
        text = f"tint={json.dumps(tint, sort_keys=True)}"
        return {"ui": {"text": [text]}, "result": (text,)}


NODE_CLASS_MAPPINGS = {"LoRA Stack (Test)": LoraStackTest, "Count (Test)": CountTest,
                       "Tint (Test)": TintTest}
NODE_DISPLAY_NAME_MAPPINGS = {"LoRA Stack (Test)": "🧪 LoRA Stack"}
