"""nodeflow: node-based workflows for Stable Diffusion.

The public API for node authors::

    from nodeflow import node, Field, Latent, Conditioning, Model

Socket types (``Latent``, ``Conditioning``, ``Image``, ...) annotate inputs and outputs; the
values that travel as LATENT and CONDITIONING are ``LatentBatch`` and ``ConditioningValue``
(made of ``CondEntry``), IMAGE and MASK are torch tensors.

Importing nodeflow never imports torch.
"""
from .declare import InputFamily, Migration, NodeDef, migration, node
from .diffusion.conditioning import CondEntry
from .diffusion.conditioning import Conditioning as ConditioningValue
from .diffusion.latent import LatentBatch
from .errors import Interrupted, NodeError, Problem, WorkflowError
from .fields import Field
from .flow import ExecutionBlocker, Expansion, GraphBuilder, NodeHandle
from .types import (AnyType, Boolean, Clip, Conditioning, Float, Image, Int, Latent, Mask, Model,
                    SocketType, String, Vae, socket_type)

__version__ = "0.1.0"

__all__ = [
    "node", "Field", "migration", "Migration", "NodeDef", "NodeError", "Interrupted", "Problem",
    "WorkflowError", "SocketType", "socket_type", "AnyType", "Int", "Float", "String", "Boolean",
    "Model", "Clip", "Vae", "Conditioning", "Latent", "Image", "Mask", "ExecutionBlocker",
    "Expansion", "GraphBuilder", "NodeHandle", "InputFamily", "LatentBatch", "CondEntry",
    "ConditioningValue", "__version__",
]
