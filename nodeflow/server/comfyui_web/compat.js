// nodeflow's extension for ComfyUI's frontend (served with `nodeflow serve --frontend comfyui`).
// It registers through the public extension API (app.registerExtension) and does nothing on
// frontends from 1.28 on.
//
// Frontends up to 1.27 register ComfyUI's loader nodes (ImageOnlyCheckpointLoader,
// StyleModelLoader, GLIGENLoader, ...) as model providers whether or not
// the server has them, then read each provider's node definition: on a server without one of
// them every model combo (ckpt_name, lora_name, vae_name) fails to build. 1.28 fixed this by
// skipping providers without a definition. For 1.27 this keeps only the providers whose node
// the server has. It has to reach into the "modelToNode" store: 1.27's extension API offers
// no hook for model providers (app.extensionManager exposes the setting, toast, dialog,
// command and sidebar stores, not this one), and publishing stand-in nodes instead would
// offer nodes that cannot run.
import { app } from "../../scripts/app.js";

const FIXED_IN = [1, 28];

function olderThan(version, [major, minor]) {
  const [a, b] = String(version ?? "").split(".").map(Number);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false; // unknown: leave it alone
  return a < major || (a === major && b < minor);
}

function keepProvidersThatExist(store) {
  if (store.$id !== "modelToNode" || store.nodeflowPatched) return;
  store.nodeflowPatched = true;
  store.getRegisteredNodeTypes = () => {
    store.registerDefaults();
    for (const [kind, providers] of Object.entries(store.modelToNodeMap)) {
      store.modelToNodeMap[kind] = providers.filter((p) => p.nodeDef);
    }
    return new Set(Object.values(store.modelToNodeMap).flat().map((p) => p.nodeDef.name));
  };
}

app.registerExtension({
  name: "nodeflow.ComfyUICompat",
  init() {
    if (!olderThan(window.__COMFYUI_FRONTEND_VERSION__, FIXED_IN)) return;
    const pinia = document.getElementById("vue-app")?.__vue_app__?.config.globalProperties.$pinia;
    if (!pinia) return;
    pinia._s.forEach(keepProvidersThatExist);
    pinia.use(({ store }) => keepProvidersThatExist(store));
  },
});
