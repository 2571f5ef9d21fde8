import torch
import comfy.utils
from nodes import MAX_RESOLUTION, SaveImage


class ShapeImageResize:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {
            "image": ("IMAGE",),
            "width": ("INT", {"default": 128, "min": 0, "max": MAX_RESOLUTION, "step": 8}),
            "height": ("INT", {"default": 128, "min": 0, "max": MAX_RESOLUTION, "step": 8}),
            "interpolation": (["nearest", "bilinear", "bicubic", "area", "lanczos"],),
            "keep_proportion": ("BOOLEAN", {"default": False}),
        }}

    RETURN_TYPES = ("IMAGE", "INT", "INT")
    RETURN_NAMES = ("IMAGE", "width", "height")
    FUNCTION = "run"
    CATEGORY = "shape/image"

    def run(self, image, width, height, interpolation, keep_proportion):
        h, w = image.shape[1:3]
        if keep_proportion and width and height:
            ratio = min(width / w, height / h)
            width, height = round(w * ratio), round(h * ratio)
        width, height = width or w, height or h
        out = comfy.utils.common_upscale(image.movedim(-1, 1), width, height, interpolation,
                                         "disabled").movedim(1, -1)
        return (out.clamp(0, 1), width, height)


class ShapeImageFlip:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"image": ("IMAGE",), "axis": (["x", "y", "xy"],)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "shape/image"

    def run(self, image, axis):
        dims = {"x": [2], "y": [1], "xy": [1, 2]}[axis]
        return (torch.flip(image, dims=dims),)


class ShapeImageBatchCount:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"image": ("IMAGE",)},
                "optional": {"offset": ("INT", {"default": 0, "forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "shape/image"

    def run(self, image, offset=0):
        return (image.shape[0] + (offset or 0),)


class ShapeSaveWithCaption(SaveImage):
    @classmethod
    def INPUT_TYPES(s):
        declared = SaveImage.INPUT_TYPES()
        declared["required"]["caption"] = ("STRING", {"default": "", "multiline": True})
        return declared

    FUNCTION = "save_captioned"

    def save_captioned(self, images, caption, filename_prefix="shape", prompt=None,
                       extra_pnginfo=None):
        extra = dict(extra_pnginfo or {})
        extra["caption"] = caption
        return self.save_images(images, filename_prefix, prompt, extra)


IMAGE_CLASS_MAPPINGS = {"ImageResize+ (shape)": ShapeImageResize,
                        "ImageFlip+ (shape)": ShapeImageFlip,
                        "ImageBatchCount+ (shape)": ShapeImageBatchCount,
                        "SaveWithCaption+ (shape)": ShapeSaveWithCaption}
IMAGE_NAME_MAPPINGS = {"ImageResize+ (shape)": "🔧 Image Resize"}
