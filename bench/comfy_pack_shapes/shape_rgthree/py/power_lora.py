import folder_paths
import nodes


class FlexibleOptional(dict):
    """Optional inputs that accept any name: the editor adds one widget per LoRA row."""

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return ("*",) if key not in self.keys() else super().__getitem__(key)


class ShapePowerLoraLoader:
    NAME = "Power Lora Loader (shape)"
    CATEGORY = "shape/loaders"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}, "optional": FlexibleOptional({"model": ("MODEL",),
                                                              "clip": ("CLIP",)})}

    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "load_loras"

    def load_loras(self, model=None, clip=None, **kwargs):
        for key, row in kwargs.items():
            if key.startswith("lora_") and isinstance(row, dict) and row.get("on"):
                path = folder_paths.get_full_path("loras", row["lora"])
                if path is not None:
                    model, clip = nodes.LoraLoader().load_lora(model, clip, row["lora"],
                                                               row.get("strength", 1.0),
                                                               row.get("strength", 1.0))
        return (model, clip)
