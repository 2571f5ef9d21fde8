"""The ``nodes`` module packs import: MAX_RESOLUTION, ``common_ksampler``, ComfyUI's core
classes that nodeflow can run (:mod:`.core_classes`, plus SaveImage / PreviewImage written
here) to call or subclass, and NODE_CLASS_MAPPINGS: those classes and every loaded pack class."""
from __future__ import annotations

import json
import os
import random
import types

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


CORE = {"SaveImage": SaveImage, "PreviewImage": PreviewImage}
"""Written here (packs subclass them and reach for their attributes); the other core classes
are backed by nodeflow's nodes (:mod:`.core_classes`)."""


def module() -> types.ModuleType:
    from .missing import partial_module

    mod = partial_module("nodes", "nodeflow's stand-in for ComfyUI's nodes.py")
    from .core_classes import IN_NODES_PY, common_ksampler, core_classes

    backed = core_classes()
    mod.MAX_RESOLUTION = MAX_RESOLUTION
    mod.NODE_CLASS_MAPPINGS = {**backed, **CORE}
    mod.NODE_DISPLAY_NAME_MAPPINGS = {
        **{name: cls.__nodeflow_backed__.node_def.display_name for name, cls in backed.items()},
        "PreviewImage": "Preview Image", "SaveImage": "Save Image"}
    mod.EXTENSION_WEB_DIRS = {}
    mod.common_ksampler = common_ksampler
    mod.interrupt_processing = lambda value=True: None
    mod.before_node_execution = lambda: None
    for name, cls in {**backed, **CORE}.items():
        if name in IN_NODES_PY or name in CORE:
            setattr(mod, name, cls)
    return mod
