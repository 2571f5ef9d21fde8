"""The ``nodes`` module packs import: MAX_RESOLUTION, the NODE_CLASS_MAPPINGS of every loaded
ComfyUI class, and working SaveImage / PreviewImage / LoadImage / ImageScale / ImageScaleBy
classes with ComfyUI's names and methods, so pack classes can subclass them."""
from __future__ import annotations

import json
import os
import random
import types
from typing import Any

MAX_RESOLUTION = 16384


def _folder_paths():
    import folder_paths  # the shim, bound to the running base folder

    return folder_paths


class SaveImage:
    """Saves images as PNGs in the output folder, with the prompt and extra_pnginfo in
    their metadata (as ComfyUI writes them)."""

    def __init__(self):
        self.output_dir = _folder_paths().get_output_directory()
        self.type = "output"
        self.prefix_append = ""
        self.compress_level = 4

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",),
                             "filename_prefix": ("STRING", {"default": "ComfyUI"})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        import numpy as np
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        filename_prefix += self.prefix_append
        folder, filename, counter, subfolder, _ = _folder_paths().get_save_image_path(
            filename_prefix, self.output_dir, images[0].shape[1], images[0].shape[0])
        results = []
        for index, image in enumerate(images):
            array = np.clip(255.0 * image.detach().float().cpu().numpy(), 0, 255)
            img = Image.fromarray(array.astype(np.uint8).squeeze())
            meta = PngInfo()
            if prompt is not None:
                meta.add_text("prompt", json.dumps(prompt))
            for key, value in (extra_pnginfo or {}).items():
                meta.add_text(key, json.dumps(value))
            name = f"{filename.replace('%batch_num%', str(index))}_{counter:05}_.png"
            img.save(os.path.join(folder, name), pnginfo=meta,
                     compress_level=self.compress_level)
            results.append({"filename": name, "subfolder": subfolder, "type": self.type})
            counter += 1
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    def __init__(self):
        self.output_dir = _folder_paths().get_temp_directory()
        self.type = "temp"
        self.prefix_append = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz")
                                                for _ in range(5))
        self.compress_level = 1

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}


class LoadImage:
    @classmethod
    def INPUT_TYPES(cls):
        folder = _folder_paths().get_input_directory()
        files = sorted(f for f in os.listdir(folder) if os.path.isfile(os.path.join(
            folder, f))) if os.path.isdir(folder) else []
        return {"required": {"image": (files, {"image_upload": True})}}

    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"

    def load_image(self, image):
        import numpy as np
        import torch
        from PIL import Image, ImageOps

        path = _folder_paths().get_annotated_filepath(image)
        img = ImageOps.exif_transpose(Image.open(path))
        rgb = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)[None]
        if "A" in img.getbands():
            alpha = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
            mask = 1.0 - torch.from_numpy(alpha)
        else:
            mask = torch.zeros(rgb.shape[1:3], dtype=torch.float32)
        return (rgb, mask.unsqueeze(0))


class ImageScale:
    upscale_methods = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    crop_methods = ["disabled", "center"]

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "upscale_method": (cls.upscale_methods,),
                             "width": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION}),
                             "height": ("INT", {"default": 512, "min": 0,
                                                "max": MAX_RESOLUTION}),
                             "crop": (cls.crop_methods,)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    CATEGORY = "image/upscaling"

    def upscale(self, image, upscale_method, width, height, crop):
        from comfy.utils import common_upscale

        if width == 0 and height == 0:
            return (image,)
        h, w = image.shape[1], image.shape[2]
        width = width or max(1, round(w * height / h))
        height = height or max(1, round(h * width / w))
        samples = image.movedim(-1, 1)
        return (common_upscale(samples, width, height, upscale_method, crop).movedim(1, -1),)


class ImageScaleBy(ImageScale):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "upscale_method": (cls.upscale_methods,),
                             "scale_by": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0,
                                                    "step": 0.01})}}

    FUNCTION = "upscale_by"

    def upscale_by(self, image, upscale_method, scale_by):
        from comfy.utils import common_upscale

        width = round(image.shape[2] * scale_by)
        height = round(image.shape[1] * scale_by)
        samples = image.movedim(-1, 1)
        return (common_upscale(samples, width, height, upscale_method, "disabled")
                .movedim(1, -1),)


CORE = {"SaveImage": SaveImage, "PreviewImage": PreviewImage, "LoadImage": LoadImage,
        "ImageScale": ImageScale, "ImageScaleBy": ImageScaleBy}


def module() -> types.ModuleType:
    from .missing import partial_module

    mod = partial_module("nodes", "nodeflow's stand-in for ComfyUI's nodes.py")
    mod.MAX_RESOLUTION = MAX_RESOLUTION
    mod.NODE_CLASS_MAPPINGS = dict(CORE)
    mod.NODE_DISPLAY_NAME_MAPPINGS = {"PreviewImage": "Preview Image",
                                      "LoadImage": "Load Image", "SaveImage": "Save Image",
                                      "ImageScale": "Upscale Image",
                                      "ImageScaleBy": "Upscale Image By"}
    mod.EXTENSION_WEB_DIRS = {}
    mod.interrupt_processing = lambda value=True: None
    for name, cls in CORE.items():
        setattr(mod, name, cls)
    return mod
