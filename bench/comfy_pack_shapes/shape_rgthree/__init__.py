from .py.context import ShapeContext, ShapeContextSwitch
from .py.power_lora import ShapePowerLoraLoader
from .py import server_routes  # noqa: F401

NODE_CLASS_MAPPINGS = {
    ShapeContext.NAME: ShapeContext,
    ShapeContextSwitch.NAME: ShapeContextSwitch,
    ShapePowerLoraLoader.NAME: ShapePowerLoraLoader,
}
WEB_DIRECTORY = "./web"
