"""The workflow as a networkx DiGraph: edges run from a producing node to its consumer."""
from __future__ import annotations

import networkx as nx

from ..workflow import Workflow, as_link


def build_graph(workflow: Workflow) -> nx.DiGraph:
    """Nodes in file order; one edge per (producer, consumer) pair with the links it carries.

    Malformed links and links to missing nodes are left out (validation reports them).
    """
    graph = nx.DiGraph()
    for node_id in workflow.nodes:
        graph.add_node(node_id)
    for node_id, spec in workflow.nodes.items():
        for input_name, value in spec.inputs.items():
            try:
                link = as_link(value)
            except ValueError:
                continue
            if link is None or link.node not in workflow.nodes:
                continue
            if graph.has_edge(link.node, node_id):
                graph.edges[link.node, node_id]["links"].append((link.output, input_name))
            else:
                graph.add_edge(link.node, node_id, links=[(link.output, input_name)])
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each set of nodes that depend on each other, in file order."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    found = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(n, n) for n in component):
            found.append(sorted(component, key=order.__getitem__))
    return sorted(found, key=lambda c: order[c[0]])


def run_order(graph: nx.DiGraph, nodes: set[str]) -> list[str]:
    """A topological order of ``nodes``, ties broken by their order in the file."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    return list(nx.lexicographical_topological_sort(graph.subgraph(nodes), key=order.__getitem__))
