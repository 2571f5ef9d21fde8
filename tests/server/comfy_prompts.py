"""ComfyUI API-format prompts as ComfyUI's own "Save (API format)" writes them."""
from __future__ import annotations


def comfy_txt2img(seed: int = 5, steps: int = 2) -> dict:
    return {
        "3": {"class_type": "KSampler", "_meta": {"title": "KSampler"},
              "inputs": {"seed": seed, "steps": steps, "cfg": 8, "sampler_name": "euler",
                         "scheduler": "normal", "denoise": 1, "model": ["4", 0],
                         "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "tiny.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "_meta": {"title": "Save Image"},
              "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


def comfy_everything() -> dict:
    """Every mapped class type once, wired the way ComfyUI wires them."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "2": {"class_type": "LoraLoader", "inputs": {
            "model": ["1", 0], "clip": ["1", 1], "lora_name": "style.safetensors",
            "strength_model": 0.8, "strength_clip": 0.5}},
        "3": {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["2", 1],
                                                           "stop_at_clip_layer": -2}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["3", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "b", "clip": ["3", 0]}},
        "6": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["4", 0],
                                                              "conditioning_2": ["5", 0]}},
        "7": {"class_type": "VAELoader", "inputs": {"vae_name": "vae.safetensors"}},
        "8": {"class_type": "LoadImage", "inputs": {"image": "in.png", "upload": "image"}},
        "9": {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["7", 0]}},
        "10": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["9", 0],
                                                              "mask": ["8", 1]}},
        "11": {"class_type": "KSamplerAdvanced", "inputs": {
            "add_noise": "enable", "noise_seed": 7, "steps": 3, "cfg": 6.5,
            "sampler_name": "euler", "scheduler": "karras", "start_at_step": 0,
            "end_at_step": 2, "return_with_leftover_noise": "disable", "model": ["2", 0],
            "positive": ["6", 0], "negative": ["5", 0], "latent_image": ["10", 0]}},
        "12": {"class_type": "LatentUpscale", "inputs": {
            "upscale_method": "bilinear", "width": 96, "height": 96, "crop": "disabled",
            "samples": ["11", 0]}},
        "13": {"class_type": "LatentUpscaleBy", "inputs": {
            "upscale_method": "area", "scale_by": 1.25, "samples": ["12", 0]}},
        "14": {"class_type": "VAEDecodeTiled", "inputs": {
            "samples": ["13", 0], "vae": ["1", 2], "tile_size": 512, "overlap": 64,
            "temporal_size": 64, "temporal_overlap": 8}},
        "15": {"class_type": "VAEEncodeTiled", "inputs": {
            "pixels": ["14", 0], "vae": ["1", 2], "tile_size": 512, "overlap": 64}},
        "16": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                            "batch_size": 1}},
        "17": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 1, "cfg": 7, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1, "model": ["1", 0], "positive": ["4", 0], "negative": ["5", 0],
            "latent_image": ["16", 0]}},
        "18": {"class_type": "VAEDecode", "inputs": {"samples": ["17", 0], "vae": ["1", 2]}},
        "19": {"class_type": "LoadImageMask", "inputs": {"image": "in.png", "channel": "red"}},
        "20": {"class_type": "PreviewImage", "inputs": {"images": ["14", 0]}},
        "21": {"class_type": "SaveImage", "inputs": {"filename_prefix": "all",
                                                     "images": ["18", 0]}},
    }
