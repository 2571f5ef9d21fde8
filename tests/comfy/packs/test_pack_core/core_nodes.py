import comfy.utils
import nodes
import server


class TinyPicture:
    """A whole txt2img through ComfyUI's core classes, called the way packs call them."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (nodes.CheckpointLoaderSimple.INPUT_TYPES()
                                           ["required"]["ckpt_name"][0],),
                             "text": ("STRING", {"default": "a seven", "multiline": True}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})}}

    RETURN_TYPES = ("IMAGE", "LATENT")
    FUNCTION = "make"
    CATEGORY = "test pack/core"

    def make(self, ckpt_name, text, seed):
        model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(ckpt_name)
        positive = nodes.CLIPTextEncode().encode(clip, text)[0]
        negative = nodes.CLIPTextEncode().encode(clip=clip, text="")[0]
        empty = nodes.EmptyLatentImage().generate(32, 32, batch_size=1)[0]
        latent = nodes.common_ksampler(model, seed, 2, 4.0, "euler", "normal", positive,
                                       negative, empty)[0]
        image = nodes.VAEDecode().decode(vae, latent)[0]
        return (nodes.ImageInvert().invert(image)[0], latent)


class QuietKSampler(nodes.KSampler):
    """A KSampler subclass with one more input, as packs write them."""

    @classmethod
    def INPUT_TYPES(cls):
        declared = super().INPUT_TYPES()
        declared["required"]["steps_cap"] = ("INT", {"default": 2, "min": 1, "max": 4})
        return declared

    FUNCTION = "capped"

    def capped(self, steps_cap, steps, **kwargs):
        return super().sample(steps=min(steps, steps_cap), **kwargs)


class WhoRuns:
    """Reads what runs: its own entry in the prompt (DYNPROMPT), the client and the queue; a
    forceInput INT is a socket, never a widget."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 1, "forceInput": True}),
                             "label": ("STRING", {"default": "who"})},
                "hidden": {"unique_id": "UNIQUE_ID", "dynprompt": "DYNPROMPT"}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "tell"
    OUTPUT_NODE = True
    CATEGORY = "test pack/core"

    def tell(self, count, label, unique_id, dynprompt):
        me = dynprompt.get_node(unique_id)
        instance = server.PromptServer.instance
        running, pending = instance.prompt_queue.get_current_queue()
        said = {"class_type": me["class_type"], "count": count, "label": label,
                "client": instance.client_id, "node": instance.last_node_id,
                "prompt_id": instance.last_prompt_id, "running": len(running)}
        bar = comfy.utils.ProgressBar(2)
        bar.update(1)
        bar.update(1)
        instance.send_sync("testcore.who", said)
        from PIL import Image
        preview = Image.new("RGB", (8, 8), (255, 0, 0))
        instance.send_sync(server.BinaryEventTypes.UNENCODED_PREVIEW_IMAGE,
                           ["PNG", preview, None], instance.client_id)
        return {"ui": {"text": [f"{label}:{count}:{me['class_type']}"]}, "result": (label,)}


class MaybeImage:
    """Returns None for an output it has nothing for, as context/pipe nodes do."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3})}}

    RETURN_TYPES = ("IMAGE", "INT")
    FUNCTION = "maybe"
    CATEGORY = "test pack/core"

    def maybe(self, count):
        return (None, count)


NODE_CLASS_MAPPINGS = {"TinyPicture": TinyPicture, "QuietKSampler": QuietKSampler,
                       "WhoRuns": WhoRuns, "MaybeImage": MaybeImage}
NODE_DISPLAY_NAME_MAPPINGS = {"TinyPicture": "Tiny Picture (core calls)"}
