import json
import os

import numpy as np
import torch
from PIL import Image, ImageFilter

import folder_paths

CONFIG = os.path.join(os.path.dirname(__file__), "shape_was_config.json")
if not os.path.exists(CONFIG):
    with open(CONFIG, "w") as f:
        json.dump({"history_display_limit": 36}, f)
print("\033[34mShape WAS Suite: \033[92mLoaded 5 nodes.\033[0m")


def tensor2pil(image):
    return Image.fromarray(np.clip(255.0 * image.cpu().numpy().squeeze(), 0, 255)
                           .astype(np.uint8))


def pil2tensor(image):
    return torch.from_numpy(np.array(image).astype(np.float32) / 255.0).unsqueeze(0)


class ShapeImageFilter:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",),
                             "radius": ("FLOAT", {"default": 1.0, "min": 0, "max": 16}),
                             "mode": (["blur", "sharpen", "edges"],)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "image_filter"
    CATEGORY = "shape/WAS/Image"

    def image_filter(self, image, radius, mode):
        out = []
        for item in image:
            picture = tensor2pil(item)
            if mode == "blur":
                picture = picture.filter(ImageFilter.GaussianBlur(radius))
            elif mode == "sharpen":
                picture = picture.filter(ImageFilter.SHARPEN)
            else:
                picture = picture.filter(ImageFilter.FIND_EDGES)
            out.append(pil2tensor(picture))
        return (torch.cat(out, 0),)


class ShapeTextConcat:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"delimiter": ("STRING", {"default": ", "})},
                "optional": {"text_a": ("STRING", {"forceInput": True}),
                             "text_b": ("STRING", {"forceInput": True})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "text_concatenate"
    CATEGORY = "shape/WAS/Text"

    def text_concatenate(self, delimiter, text_a=None, text_b=None):
        return (delimiter.join(t for t in (text_a, text_b) if t),)


class ShapeTextRandomLine:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True, "default": "a\nb\nc"}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "pick"
    CATEGORY = "shape/WAS/Text"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("NaN")

    def pick(self, text, seed):
        lines = [line for line in text.splitlines() if line.strip()]
        return (lines[seed % len(lines)] if lines else "",)


class ShapeLoadTextFile:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"file_path": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "load"
    CATEGORY = "shape/WAS/IO"

    def load(self, file_path):
        path = os.path.join(folder_paths.get_input_directory(), file_path)
        if not file_path or not os.path.isfile(path):
            raise FileNotFoundError(f"no text file '{file_path}' in the input folder")
        with open(path, encoding="utf-8") as f:
            return (f.read(),)


class ShapeNumberToText:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"number": ("NUMBER",)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "to_text"
    CATEGORY = "shape/WAS/Number"

    def to_text(self, number):
        return (str(number),)


NODE_CLASS_MAPPINGS = {"Image Filter (shape)": ShapeImageFilter,
                       "Text Concatenate (shape)": ShapeTextConcat,
                       "Text Random Line (shape)": ShapeTextRandomLine,
                       "Load Text File (shape)": ShapeLoadTextFile,
                       "Number to Text (shape)": ShapeNumberToText}
NODE_DISPLAY_NAME_MAPPINGS = {}
