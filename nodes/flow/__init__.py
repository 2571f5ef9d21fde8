"""Lists, switches and loops: the nodes that make a workflow more than a fixed chain.

A built-in pack on the public node API only (list outputs, lazy inputs, ExecutionBlocker,
GraphBuilder); see docs/workflow-format.md. Importing it imports neither torch nor NumPy.
"""
from .control import Block, If, Repeat, Switch
from .lists import (FloatRange, ImageBatchToList, ImageListToBatch, IntRange, PromptList,
                    SeedList, XYProduct)
from .xyplot import XYPlot

__all__ = ["Block", "If", "Repeat", "Switch", "FloatRange", "ImageBatchToList",
           "ImageListToBatch", "IntRange", "PromptList", "SeedList", "XYProduct", "XYPlot"]
