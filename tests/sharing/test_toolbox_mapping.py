"""The SD toolbox nodes in the ComfyUI translation table: a ComfyUI prompt that uses them
imports without problems, validates, and exports back to the same prompt; the editor format
round-trips too."""
from __future__ import annotations

from nodeflow.comfy.convert import import_workflow
from nodeflow.comfy.export import export_api, export_ui
from nodeflow.engine.validate import validate

IMAGE_AND_MASK = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
    "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bicubic",
                                                 "width": 640, "height": 0, "crop": "center"}},
    "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["2", 0],
                                                   "upscale_method": "lanczos", "scale_by": 1.5}},
    "4": {"class_type": "ImageScaleToTotalPixels",
          "inputs": {"image": ["3", 0], "upscale_method": "area", "megapixels": 0.5,
                     "resolution_steps": 8}},
    "5": {"class_type": "ImageCrop", "inputs": {"image": ["4", 0], "width": 256, "height": 128,
                                                "x": 16, "y": 8}},
    "6": {"class_type": "ImagePadForOutpaint",
          "inputs": {"image": ["5", 0], "left": 64, "top": 0, "right": 64, "bottom": 8,
                     "feathering": 24}},
    "7": {"class_type": "ImageInvert", "inputs": {"image": ["6", 0]}},
    "8": {"class_type": "ImageBlend", "inputs": {"image1": ["7", 0], "image2": ["6", 0],
                                                 "blend_factor": 0.25, "blend_mode": "overlay"}},
    "9": {"class_type": "ImageBatch", "inputs": {"image1": ["8", 0], "image2": ["7", 0]}},
    "10": {"class_type": "GrowMask", "inputs": {"mask": ["6", 1], "expand": -3,
                                                "tapered_corners": False}},
    "11": {"class_type": "InvertMask", "inputs": {"mask": ["10", 0]}},
    "12": {"class_type": "FeatherMask", "inputs": {"mask": ["11", 0], "left": 4, "top": 3,
                                                   "right": 2, "bottom": 1}},
    "13": {"class_type": "CropMask", "inputs": {"mask": ["12", 0], "x": 1, "y": 2, "width": 30,
                                                "height": 40}},
    "14": {"class_type": "ImageCompositeMasked",
           "inputs": {"destination": ["9", 0], "source": ["7", 0], "x": 5, "y": 6,
                      "resize_source": True, "mask": ["13", 0]}},
    "15": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}},
    "16": {"class_type": "ImageBatch", "inputs": {"image1": ["14", 0], "image2": ["15", 0]}},
    "17": {"class_type": "SaveImage", "inputs": {"images": ["16", 0],
                                                 "filename_prefix": "toolbox"}},
}


def round_trip(prompt, registry, settings):
    imported = import_workflow(prompt, registry, settings)
    assert imported.problems == []
    assert [p for p in validate(imported.workflow, registry) if p.kind != "not_a_choice"] == []
    exported, problems = export_api(imported.workflow, registry)
    assert problems == []
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in exported.items()
            } == prompt
    ui, problems = export_ui(imported.workflow, registry)
    assert problems == []
    again = import_workflow(ui, registry, settings)
    assert again.problems == []
    assert {k: (n.type, n.inputs) for k, n in again.workflow.nodes.items()} == \
        {k: (n.type, n.inputs) for k, n in imported.workflow.nodes.items()}
    return imported.workflow


def test_image_and_mask_nodes_round_trip(registry, settings):
    workflow = round_trip(IMAGE_AND_MASK, registry, settings)
    assert workflow.nodes["6"].type == "ImagePadForOutpaint"


def test_total_pixels_saved_before_resolution_steps_existed(registry, settings):
    ui, _ = export_ui(import_workflow(IMAGE_AND_MASK, registry, settings).workflow, registry)
    node = next(n for n in ui["nodes"] if n["type"] == "ImageScaleToTotalPixels")
    node["widgets_values"] = ["area", 0.5]
    imported = import_workflow(ui, registry, settings)
    assert imported.problems == []
    assert imported.workflow.nodes["4"].inputs["megapixels"] == 0.5
    assert "resolution_steps" not in imported.workflow.nodes["4"].inputs


CONDITIONING = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow-tiny"}},
    "2": {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["1", 1], "stop_at_clip_layer": -2}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": "a red seven"}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": "a blue one"}},
    "5": {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["4", 0], "width": 64,
                                                          "height": 128, "x": 8, "y": 16,
                                                          "strength": 0.8}},
    "6": {"class_type": "ConditioningSetAreaPercentage",
          "inputs": {"conditioning": ["3", 0], "width": 0.5, "height": 1.0, "x": 0.5, "y": 0.0,
                     "strength": 1.2}},
    "7": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
    "8": {"class_type": "ConditioningSetMask", "inputs": {"conditioning": ["5", 0],
                                                          "mask": ["7", 1], "strength": 0.5,
                                                          "set_cond_area": "mask bounds"}},
    "9": {"class_type": "ConditioningSetTimestepRange",
          "inputs": {"conditioning": ["6", 0], "start": 0.1, "end": 0.8}},
    "10": {"class_type": "ConditioningAverage",
           "inputs": {"conditioning_to": ["8", 0], "conditioning_from": ["9", 0],
                      "conditioning_to_strength": 0.3}},
    "11": {"class_type": "ConditioningConcat", "inputs": {"conditioning_to": ["10", 0],
                                                          "conditioning_from": ["3", 0]}},
    "12": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["4", 0]}},
    "13": {"class_type": "InpaintModelConditioning",
           "inputs": {"positive": ["11", 0], "negative": ["12", 0], "vae": ["1", 2],
                      "pixels": ["7", 0], "mask": ["7", 1], "noise_mask": False}},
    "14": {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["7", 0], "vae": ["1", 2],
                                                           "mask": ["7", 1], "grow_mask_by": 4}},
    "15": {"class_type": "LatentComposite", "inputs": {"samples_to": ["13", 2],
                                                       "samples_from": ["14", 0], "x": 8, "y": 16,
                                                       "feather": 8}},
    "16": {"class_type": "LatentCompositeMasked",
           "inputs": {"destination": ["15", 0], "source": ["14", 0], "x": 16, "y": 0,
                      "resize_source": False, "mask": ["7", 1]}},
    "17": {"class_type": "LatentBlend", "inputs": {"samples1": ["16", 0], "samples2": ["13", 2],
                                                   "blend_factor": 0.4}},
    "18": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "positive": ["13", 0], "negative": ["13", 1], "latent_image": ["17", 0],
        "seed": 3, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "denoise": 1.0}},
    "19": {"class_type": "VAEDecode", "inputs": {"samples": ["18", 0], "vae": ["1", 2]}},
    "20": {"class_type": "SaveImage", "inputs": {"images": ["19", 0], "filename_prefix": "c"}},
}


def test_conditioning_and_inpainting_nodes_round_trip(registry, settings):
    workflow = round_trip(CONDITIONING, registry, settings)
    assert workflow.nodes["13"].type == "InpaintModelConditioning"


def test_inpaint_nodes_saved_before_their_newer_widgets(registry, settings):
    ui, _ = export_ui(import_workflow(CONDITIONING, registry, settings).workflow, registry)
    for node in ui["nodes"]:
        if node["type"] == "InpaintModelConditioning":
            node["widgets_values"] = []
        if node["type"] == "LatentCompositeMasked":
            node["widgets_values"] = [16, 0]
    imported = import_workflow(ui, registry, settings)
    assert imported.problems == []
    assert "noise_mask" not in imported.workflow.nodes["13"].inputs
    assert imported.workflow.nodes["16"].inputs["x"] == 16


CUSTOM_SAMPLING = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow-tiny"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a red seven"}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
    "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32,
                                                       "batch_size": 1}},
    "5": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}},
    "6": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "karras",
                                                     "steps": 8, "denoise": 1.0}},
    "7": {"class_type": "SplitSigmas", "inputs": {"sigmas": ["6", 0], "step": 3}},
    "8": {"class_type": "RandomNoise", "inputs": {"noise_seed": 42}},
    "9": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                "negative": ["3", 0], "cfg": 4.5}},
    "10": {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["8", 0], "guider": ["9", 0], "sampler": ["5", 0], "sigmas": ["7", 0],
        "latent_image": ["4", 0]}},
    "11": {"class_type": "DisableNoise", "inputs": {}},
    "12": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["2", 0]}},
    "13": {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["11", 0], "guider": ["12", 0], "sampler": ["5", 0], "sigmas": ["7", 1],
        "latent_image": ["10", 0]}},
    "14": {"class_type": "KarrasScheduler", "inputs": {"steps": 5, "sigma_max": 10.0,
                                                       "sigma_min": 0.05, "rho": 7.0}},
    "15": {"class_type": "ExponentialScheduler", "inputs": {"steps": 5, "sigma_max": 10.0,
                                                            "sigma_min": 0.05}},
    "16": {"class_type": "FlipSigmas", "inputs": {"sigmas": ["15", 0]}},
    "17": {"class_type": "SamplerCustom", "inputs": {
        "model": ["1", 0], "add_noise": False, "noise_seed": 7, "cfg": 3.0,
        "positive": ["2", 0], "negative": ["3", 0], "sampler": ["5", 0], "sigmas": ["14", 0],
        "latent_image": ["13", 1]}},
    "18": {"class_type": "VAEDecode", "inputs": {"samples": ["17", 0], "vae": ["1", 2]}},
    "19": {"class_type": "SaveImage", "inputs": {"images": ["18", 0], "filename_prefix": "c"}},
    "20": {"class_type": "SamplerCustom", "inputs": {
        "model": ["1", 0], "add_noise": True, "noise_seed": 7, "cfg": 3.0,
        "positive": ["2", 0], "negative": ["3", 0], "sampler": ["5", 0], "sigmas": ["16", 0],
        "latent_image": ["4", 0]}},
    "21": {"class_type": "PreviewImage", "inputs": {"images": ["22", 0]}},
    "22": {"class_type": "VAEDecode", "inputs": {"samples": ["20", 1], "vae": ["1", 2]}},
}


def test_custom_sampling_round_trips(registry, settings):
    workflow = round_trip(CUSTOM_SAMPLING, registry, settings)
    assert workflow.nodes["13"].inputs["latent_image"] == {"node": "10", "output": "output"}
    assert workflow.nodes["17"].inputs["latent_image"] == {"node": "13",
                                                          "output": "denoised_output"}


LOADERS_AND_MERGING = {
    "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "sd15-unet.safetensors",
                                                 "weight_dtype": "default"}},
    "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": "clip_l.safetensors",
                                                 "type": "stable_diffusion", "device": "cpu"}},
    "3": {"class_type": "DualCLIPLoader", "inputs": {
        "clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors", "type": "sdxl",
        "device": "default"}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow-tiny"}},
    "5": {"class_type": "ModelMergeSimple", "inputs": {"model1": ["1", 0], "model2": ["4", 0],
                                                       "ratio": 0.35}},
    "6": {"class_type": "CLIPMergeSimple", "inputs": {"clip1": ["2", 0], "clip2": ["4", 1],
                                                      "ratio": 0.6}},
    "7": {"class_type": "CheckpointSave", "inputs": {
        "model": ["9", 0], "clip": ["6", 0], "vae": ["4", 2],
        "filename_prefix": "checkpoints/merged"}},
    "8": {"class_type": "CheckpointSave", "inputs": {
        "model": ["4", 0], "clip": ["3", 0], "vae": ["4", 2], "filename_prefix": "other"}},
    "9": {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["5", 0], "lora_name": "detail.safetensors", "strength_model": 0.8}},
}


def test_loaders_merging_and_saving_round_trip(registry, settings):
    workflow = round_trip(LOADERS_AND_MERGING, registry, settings)
    assert workflow.nodes["7"].inputs["prefix"] == "checkpoints/merged"
    assert workflow.nodes["9"].type == "LoadLoRAModelOnly"


def test_clip_loaders_saved_before_the_device_widget(registry, settings):
    ui, _ = export_ui(import_workflow(LOADERS_AND_MERGING, registry, settings).workflow, registry)
    for node in ui["nodes"]:
        if node["type"] == "CLIPLoader":
            node["widgets_values"] = ["clip_l.safetensors", "stable_diffusion"]
    imported = import_workflow(ui, registry, settings)
    assert imported.problems == [] and "device" not in imported.workflow.nodes["2"].inputs


CONTROLNET_AND_UPSCALE = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow-tiny"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a red seven"}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
    "4": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
    "5": {"class_type": "Canny", "inputs": {"image": ["4", 0], "low_threshold": 0.3,
                                            "high_threshold": 0.7}},
    "6": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "canny.safetensors"}},
    "7": {"class_type": "DiffControlNetLoader", "inputs": {"model": ["1", 0],
                                                           "control_net_name": "diff.safetensors"}},
    "8": {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["6", 0], "image": ["5", 0],
        "strength": 0.8, "start_percent": 0.1, "end_percent": 0.9}},
    "9": {"class_type": "ControlNetApply", "inputs": {"conditioning": ["8", 0],
                                                      "control_net": ["7", 0], "image": ["4", 0],
                                                      "strength": 0.5}},
    "10": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32,
                                                        "batch_size": 1}},
    "11": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "positive": ["9", 0], "negative": ["8", 1], "latent_image": ["10", 0],
        "seed": 3, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "denoise": 0.6}},
    "12": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["1", 2]}},
    "13": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x-UltraSharp.pth"}},
    "14": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["13", 0],
                                                             "image": ["12", 0]}},
    "15": {"class_type": "SaveImage", "inputs": {"images": ["14", 0], "filename_prefix": "c"}},
    "16": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "clip_vision_h.safetensors"}},
    "17": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["16", 0],
                                                        "image": ["4", 0], "crop": "none"}},
    "18": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "e"}},
}


def test_controlnet_and_upscale_round_trip(registry, settings):
    workflow = round_trip(CONTROLNET_AND_UPSCALE, registry, settings)
    assert workflow.nodes["8"].type == "ControlNetApplyAdvanced"


UNCLIP_AND_PREPROCESSORS = {
    "1": {"class_type": "unCLIPCheckpointLoader", "inputs": {"ckpt_name": "sd21-unclip-h.ckpt"}},
    "2": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
    "3": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["1", 3], "image": ["2", 0],
                                                       "crop": "center"}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a lighthouse"}},
    "5": {"class_type": "unCLIPConditioning", "inputs": {
        "conditioning": ["4", 0], "clip_vision_output": ["3", 0], "strength": 0.8,
        "noise_augmentation": 0.1}},
    "6": {"class_type": "Scribble_XDoG_Preprocessor", "inputs": {"image": ["2", 0],
                                                                 "threshold": 20, "resolution": 512}},
    "7": {"class_type": "BinaryPreprocessor", "inputs": {"image": ["6", 0], "bin_threshold": 0,
                                                         "resolution": 768}},
    "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "u"}},
    "9": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32,
                                                       "batch_size": 1}},
    "10": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "positive": ["5", 0], "negative": ["4", 0], "latent_image": ["9", 0],
        "seed": 3, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "denoise": 1.0}},
    "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["1", 2]}},
    "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "v"}},
}


def test_unclip_and_preprocessors_round_trip(registry, settings):
    workflow = round_trip(UNCLIP_AND_PREPROCESSORS, registry, settings)
    assert workflow.nodes["1"].inputs == {"checkpoint": "sd21-unclip-h.ckpt"}
    assert workflow.nodes["3"].inputs["clip_vision"] == {"node": "1", "output": "clip_vision"}
