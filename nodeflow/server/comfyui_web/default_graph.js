// nodeflow's default graph for ComfyUI's frontend, where the frontend's own needs nodes this
// server does not have. Frontend 1.27's default graph is the classic SD text-to-image graph,
// which nodeflow runs, and is left alone; newer frontends open a model family's graph (1.58:
// Z-Image Turbo, with EmptySD3LatentImage and ModelSamplingAuraFlow), which would only show
// missing nodes and ask huggingface.co about missing models. In its place this opens
// nodeflow's txt2img example (the same nodes as the classic graph), through the public
// beforeConfigureGraph hook, which may change the graph about to be shown.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const REPLACEMENT = "/workflow_templates/nodeflow/txt2img.json";

function isFrontendDefault(graph) {
  // window.comfyAPI is the frontend's module table for extensions; it holds its default graph
  const builtin = window.comfyAPI?.defaultGraph?.defaultGraph;
  if (!builtin?.nodes || !Array.isArray(graph?.nodes)) return false;
  const types = (g) => JSON.stringify(g.nodes.map((n) => [n.id, n.type]));
  return types(graph) === types(builtin);
}

function needsMissingNodes(graph) {
  return graph.nodes.some((n) => !(n.type in LiteGraph.registered_node_types));
}

app.registerExtension({
  name: "nodeflow.DefaultGraph",
  async beforeConfigureGraph(graph) {
    if (!isFrontendDefault(graph) || !needsMissingNodes(graph)) return;
    const response = await api.fetchApi(REPLACEMENT);
    if (!response.ok) return; // shown as it is: the frontend reports the missing nodes
    const replacement = await response.json();
    for (const key of Object.keys(graph)) delete graph[key];
    Object.assign(graph, replacement);
  },
});
