class ShapeSimpleMath:
    OPERATIONS = {"a+b": lambda a, b: a + b, "a*b": lambda a, b: a * b,
                  "a-b": lambda a, b: a - b, "max": max}

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"operation": (list(s.OPERATIONS),)},
                "optional": {"a": ("INT,FLOAT", {"forceInput": True}),
                             "b": ("INT,FLOAT", {"forceInput": True})}}

    RETURN_TYPES = ("INT", "FLOAT")
    FUNCTION = "run"
    CATEGORY = "shape/utils"

    def run(self, operation, a=0, b=0):
        result = self.OPERATIONS[operation](a or 0, b or 0)
        return (round(result), float(result))


class ShapeConsoleDebug:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"value": ("*",)},
                "optional": {"prefix": ("STRING", {"default": "Value:"})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    CATEGORY = "shape/utils"
    OUTPUT_NODE = True

    def run(self, value, prefix="Value:"):
        return {"ui": {"text": [f"{prefix} {value!r}"[:200]]}}


MISC_CLASS_MAPPINGS = {"SimpleMath+ (shape)": ShapeSimpleMath,
                       "ConsoleDebug+ (shape)": ShapeConsoleDebug}
MISC_NAME_MAPPINGS = {}
