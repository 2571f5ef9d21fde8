import comfy.samplers
import nodes
from server import PromptServer


class ShapeKSamplerProvider:
    """Declares its sampler list from ComfyUI's sampler module: needs ComfyUI internals."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"sampler_name": (comfy.samplers.KSampler.SAMPLERS,),
                             "scheduler": (comfy.samplers.KSampler.SCHEDULERS,)}}

    RETURN_TYPES = ("KSAMPLER",)
    FUNCTION = "doit"
    CATEGORY = "shape/sampler"

    def doit(self, sampler_name, scheduler):
        return ((sampler_name, scheduler),)


class ShapeIterativeUpscale:
    """Upscales a latent in steps, resampling each one with the core sampler."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"samples": ("LATENT",), "model": ("MODEL",),
                             "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "scale": ("FLOAT", {"default": 1.5, "min": 1, "max": 4}),
                             "steps": ("INT", {"default": 1, "min": 1, "max": 4}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "doit"
    CATEGORY = "shape/sampler"

    def doit(self, samples, model, positive, negative, scale, steps, seed, unique_id):
        factor = scale ** (1 / steps)
        for step in range(steps):
            samples = nodes.LatentUpscaleBy().upscale(samples, "bilinear", factor)[0]
            samples = nodes.common_ksampler(model, seed + step, 2, 4.0, "euler", "normal",
                                            positive, negative, samples, denoise=0.5)[0]
            PromptServer.instance.send_sync("shape-impact-step", {"node": unique_id,
                                                                  "step": step + 1})
        return (samples,)


class ShapeSamplerPipe:
    """Samples through the core KSampler class with the pack's own pipe."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"basic_pipe": ("BASIC_PIPE",), "latent_image": ("LATENT",),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "doit"
    CATEGORY = "shape/sampler"

    def doit(self, basic_pipe, latent_image, seed):
        model, _clip, _vae, positive, negative = basic_pipe
        return nodes.KSampler().sample(model, seed, 2, 4.0, "euler", "normal", positive,
                                       negative, latent_image)


class ShapeNoiseInjection:
    """Adds noise the way ComfyUI's sampler module prepares it: needs ComfyUI internals."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"samples": ("LATENT",),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "doit"
    CATEGORY = "shape/sampler"

    def doit(self, samples, seed):
        import comfy.sample
        noise = comfy.sample.prepare_noise(samples["samples"], seed)
        return ({"samples": samples["samples"] + noise},)


SAMPLER_CLASSES = {"KSamplerProvider (shape)": ShapeKSamplerProvider,
                   "IterativeUpscale (shape)": ShapeIterativeUpscale,
                   "SamplerPipe (shape)": ShapeSamplerPipe,
                   "NoiseInjection (shape)": ShapeNoiseInjection}
