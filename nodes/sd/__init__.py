"""Stable Diffusion nodes on diffusers: loaders, text encoding, samplers, VAE, latents, images.

A built-in pack, loaded by the same loader as third-party packs. Importing it does not import
torch: each node imports what it needs when it runs, so `nodeflow nodes` and the server start
fast.
"""
from .clip_vision import CLIPVisionEncode, CLIPVisionLoader
from .conditioning_edit import (ConditioningAverage, ConditioningConcat, ConditioningSetArea,
                                ConditioningSetAreaPercentage, ConditioningSetAreaStrength,
                                ConditioningSetMask, ConditioningSetTimestepRange,
                                ConditioningZeroOut)
from .controlnet import (ControlNetApply, ControlNetApplyAdvanced, ControlNetLoader,
                         DiffControlNetLoader)
from .custom_sampling import (BasicGuider, BasicScheduler, CFGGuider, DisableNoise,
                              ExponentialScheduler, FlipSigmas, KarrasScheduler, KSamplerSelect,
                              RandomNoise, SamplerCustom, SamplerCustomAdvanced, SplitSigmas)
from .image_edit import (EmptyImage, ImageBatch, ImageBlend, ImageCompositeMasked, ImageCrop,
                         ImageInvert, ImagePadForOutpaint, ImageScale, ImageScaleBy, ImageScaleToTotalPixels,
                         MaskToImage)
from .images import (LoadImage, LoadImageMask, LoadImageOutput, PreviewImage, SaveAnimation,
                     SaveImage)
from .inpaint import (InpaintModelConditioning, LatentBlend, LatentComposite,
                      LatentCompositeMasked, VAEEncodeForInpaint)
from .latent_files import LoadLatent, SaveLatent
from .latent_transform import LatentCrop, LatentFlip, LatentRotate, RepeatLatentBatch
from .latents import (EmptyLatent, LatentBatchJoin, LatentFromBatch, LatentInterpolate,
                      LatentSweep, LatentUpscale, LatentUpscaleBy, SetLatentNoiseMask)
from .loaders import CheckpointLoader, DiffusersLoader, LoadLoRA, LoadLoRAModelOnly, LoadVAE
from .mask_edit import CropMask, FeatherMask, GrowMask, InvertMask
from .masks import ImageToMask, MaskComposite, SolidMask
from .model_tools import CheckpointSave, CLIPMergeSimple, ModelMergeSimple
from .part_loaders import CLIPLoader, DualCLIPLoader, UNETLoader
from .preprocessors import BinaryPreprocessor, Canny, Scribble_XDoG_Preprocessor
from .sampling import KSampler, KSamplerAdvanced
from .style_model import StyleModelApply, StyleModelLoader
from .text import ClipSkip, ConditioningCombine, TextEncode
from .unclip import unCLIPCheckpointLoader, unCLIPConditioning
from .upscale import ImageUpscaleWithModel, UpscaleModelLoader
from .vae import (ImageFidelity, VAEDecode, VAEDecodeTiled, VAEEncode, VAEEncodeTiled,
                  VAEFidelity)

__all__ = [
    "CheckpointLoader", "LoadVAE", "LoadLoRA", "LoadLoRAModelOnly", "TextEncode",
    "ConditioningCombine", "ClipSkip",
    "EmptyLatent", "LatentUpscale", "LatentUpscaleBy", "LatentInterpolate", "LatentSweep",
    "LatentBatchJoin", "LatentFromBatch", "SetLatentNoiseMask", "KSampler", "KSamplerAdvanced",
    "VAEEncode", "VAEDecode", "VAEEncodeTiled", "VAEDecodeTiled", "VAEFidelity", "LoadImage",
    "LoadImageMask", "SaveImage", "PreviewImage", "SaveAnimation", "ImageToMask", "SolidMask",
    "MaskComposite", "ImageFidelity",
    "ImageScale", "ImageScaleBy", "ImageScaleToTotalPixels", "ImageCrop", "ImagePadForOutpaint",
    "ImageInvert", "ImageBlend", "ImageBatch", "ImageCompositeMasked", "MaskToImage",
    "GrowMask", "InvertMask", "FeatherMask", "CropMask",
    "ConditioningSetArea", "ConditioningSetAreaPercentage", "ConditioningSetMask",
    "ConditioningSetTimestepRange", "ConditioningAverage", "ConditioningConcat",
    "ConditioningZeroOut", "VAEEncodeForInpaint", "InpaintModelConditioning", "LatentComposite",
    "LatentCompositeMasked", "LatentBlend",
    "KSamplerSelect", "BasicScheduler", "KarrasScheduler", "ExponentialScheduler", "SplitSigmas",
    "FlipSigmas", "RandomNoise", "DisableNoise", "BasicGuider", "CFGGuider", "SamplerCustom",
    "SamplerCustomAdvanced", "ModelMergeSimple", "CLIPMergeSimple", "CheckpointSave",
    "UNETLoader", "CLIPLoader", "DualCLIPLoader", "UpscaleModelLoader", "ImageUpscaleWithModel",
    "ControlNetLoader", "DiffControlNetLoader", "ControlNetApply", "ControlNetApplyAdvanced", "Canny",
    "Scribble_XDoG_Preprocessor", "BinaryPreprocessor",
    "CLIPVisionLoader", "CLIPVisionEncode", "unCLIPCheckpointLoader", "unCLIPConditioning",
    "LatentRotate", "LatentFlip", "LatentCrop", "RepeatLatentBatch", "SaveLatent", "LoadLatent",
    "EmptyImage", "LoadImageOutput", "ConditioningSetAreaStrength", "StyleModelLoader",
    "StyleModelApply", "DiffusersLoader",
]
