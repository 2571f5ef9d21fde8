"""ComfyUI compatibility: the one table that maps ComfyUI's core nodes onto nodeflow's, and
the converters built on it (API-format prompts here; the editor's UI format uses the same table).
"""
from .api_format import convert_api_prompt, is_api_prompt
from .mapping import NODE_MAPPINGS, NodeMapping, mapping_for

__all__ = ["NODE_MAPPINGS", "NodeMapping", "convert_api_prompt", "is_api_prompt", "mapping_for"]
