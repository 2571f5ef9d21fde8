from comfy_execution.graph import ExecutionBlocker
from comfy_execution.graph_utils import GraphBuilder


class AnyType(str):
    def __ne__(self, other):
        return False


ANY = AnyType("*")


class LazySwitch:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"use_a": ("BOOLEAN", {"default": True}),
                             "a": (ANY, {"lazy": True}), "b": (ANY, {"lazy": True})}}

    RETURN_TYPES = (ANY,)
    FUNCTION = "switch"
    CATEGORY = "test pack/flow"

    def check_lazy_status(self, use_a, a=None, b=None):
        return ["a"] if use_a else ["b"]

    def switch(self, use_a, a=None, b=None):
        return (a if use_a else b,)


class SplitWords:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "red green blue"})}}

    RETURN_TYPES = ("STRING", "INT")
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "split"
    CATEGORY = "test pack/flow"

    def split(self, text):
        words = text.split()
        return (words, len(words))


class JoinWords:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"words": ("STRING", {"forceInput": True}),
                             "sep": ("STRING", {"default": "+"})}}

    INPUT_IS_LIST = True
    RETURN_TYPES = ("STRING",)
    FUNCTION = "join"
    OUTPUT_NODE = True
    CATEGORY = "test pack/flow"

    def join(self, words, sep):
        text = sep[0].join(words)
        return {"ui": {"text": [text]}, "result": (text,)}


class ShowText:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"forceInput": True})},
                "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"}}

    RETURN_TYPES = ()
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "test pack/flow"

    def show(self, text, unique_id=None, prompt=None):
        return {"ui": {"text": [f"{unique_id}:{prompt[unique_id]['class_type']}:{text}"]}}


class RepeatInvert:
    """Expands into `times` Invert Image (Test) nodes with ComfyUI's GraphBuilder."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "times": ("INT", {"default": 2, "min": 0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "expand"
    CATEGORY = "test pack/flow"

    def expand(self, image, times):
        graph = GraphBuilder()
        current = image
        for _ in range(times):
            node = graph.node("Invert Image (Test)", image=current, strength=1.0, mode="invert")
            current = node.out(0)
        return {"result": (current,), "expand": graph.finalize()}


class BlockIfNegative:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -10, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "go"
    CATEGORY = "test pack/flow"

    @classmethod
    def IS_CHANGED(cls, value):
        return float("nan") if value < 0 else value

    def go(self, value):
        return (ExecutionBlocker(None) if value < 0 else value,)


FLOW_NODES = {"LazySwitch": LazySwitch, "SplitWords": SplitWords, "JoinWords": JoinWords,
              "ShowText": ShowText, "RepeatInvert": RepeatInvert,
              "BlockIfNegative": BlockIfNegative}
