import os

import folder_paths
import node_helpers
import numpy as np
import torch
from comfy.comfy_types import IO, ComfyNodeABC, InputTypeDict
from PIL import Image


class ScaleNumber(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {"required": {"value": (IO.NUMBER, {}),
                             "factor": (IO.FLOAT, {"default": 2.0, "min": -10.0, "max": 10.0})}}

    RETURN_TYPES = (IO.FLOAT, IO.STRING)
    RETURN_NAMES = ("scaled", "text")
    FUNCTION = "scale"
    CATEGORY = "test pack/typing"

    def scale(self, value, factor):
        return (value * factor, f"{value}*{factor}")


class ShowAny(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {"required": {"value": (IO.ANY, {})}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ()
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "test pack/typing"

    def show(self, value, unique_id):
        print(f"{unique_id}: {value}")
        return {"ui": {"text": [str(value)]}}


class OpenInputImage(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {"required": {"image": (sorted(os.listdir(folder_paths.get_input_directory())),)}}

    RETURN_TYPES = (IO.IMAGE,)
    FUNCTION = "open"
    CATEGORY = "test pack/typing"

    def open(self, image):
        path = folder_paths.get_annotated_filepath(image)
        picture = node_helpers.pillow(Image.open, path).convert("RGB")
        return (torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)[None],)


NODE_CLASS_MAPPINGS = {"Scale Number (Typing)": ScaleNumber, "ShowAny (Typing)": ShowAny,
                       "OpenInputImage (Typing)": OpenInputImage}
