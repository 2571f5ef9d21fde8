"""The engine: how a workflow runs.

Graph order, validation, node modes, subgraph flattening, list mapping, the result and model
caches, the node context and its events, and the executor that ties them together. Node authors
never import from here; they use the public API in `nodeflow` (declare, fields, flow, types).
"""
