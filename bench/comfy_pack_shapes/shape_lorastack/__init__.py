"""Shaped like the LoRA-stack packs: a stacker whose rows are widgets its editor extension
adds (lora_1, lora_2, ... under optional inputs that hold any name), a node applying a stack
of the pack's own LORA_STACK type, and a loader reading a text of the pack's own LORA_TEXT
type that its extension draws a widget for."""
import re

import folder_paths
import nodes


class EveryName(dict):
    """Optional inputs holding any name: the rows the editor adds reach the function."""

    def __init__(self, kind, declared):
        super().__init__(declared)
        self.kind = kind

    def __contains__(self, name):
        return True

    def __getitem__(self, name):
        return super().__getitem__(name) if name in self.keys() else (self.kind,)


def apply_loras(model, clip, stack):
    """Apply the (name, model strength, clip strength) entries whose files are installed."""
    for name, strength_model, strength_clip in stack:
        if folder_paths.get_full_path("loras", name) is not None:
            model, clip = nodes.LoraLoader().load_lora(model, clip, name, strength_model,
                                                       strength_clip)
    return model, clip


class LoraStackerShape:
    CATEGORY = "shape/loras"
    RETURN_TYPES = ("LORA_STACK",)
    FUNCTION = "stack"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}, "optional": EveryName("*", {"lora_stack": ("LORA_STACK",)})}

    def stack(self, lora_stack=None, **rows):
        stack = list(lora_stack or [])
        for key in sorted(rows):
            row = rows[key]
            if key.startswith("lora_") and isinstance(row, dict) and row.get("on"):
                strength = float(row.get("strength", 1.0))
                stack.append((row["lora"], strength, float(row.get("strengthTwo") or strength)))
        return (stack,)


class ApplyLoraStackShape:
    CATEGORY = "shape/loras"
    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "apply"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",),
                             "lora_stack": ("LORA_STACK",)}}

    def apply(self, model, clip, lora_stack):
        return apply_loras(model, clip, lora_stack)


class LoraTextLoaderShape:
    CATEGORY = "shape/loras"
    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES = ("model", "clip", "loaded")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",),
                             "text": ("LORA_TEXT", {"default": "<lora:none:1.0>"})}}

    def load(self, model, clip, text):
        stack = [(name, float(weight), float(weight))
                 for name, weight in re.findall(r"<lora:([^:>]+):([0-9.]+)>", str(text))]
        model, clip = apply_loras(model, clip, stack)
        return (model, clip, ",".join(name for name, _, _ in stack))


NODE_CLASS_MAPPINGS = {"Lora Stacker (shape)": LoraStackerShape,
                       "Apply Lora Stack (shape)": ApplyLoraStackShape,
                       "Lora Text Loader (shape)": LoraTextLoaderShape}
WEB_DIRECTORY = "./web"
