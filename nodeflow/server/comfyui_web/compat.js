// nodeflow's extension for ComfyUI's frontend (served with `nodeflow serve --frontend comfyui`).
//
// The frontend's model library registers ComfyUI's loader nodes (ControlNetLoader, UNETLoader,
// ...) as providers whether or not the server has them, and then reads each provider's node
// definition; on a server without one of them every model combo (ckpt_name, lora_name,
// vae_name) fails to build. This keeps the providers whose node the server has.
import { app } from "../../scripts/app.js";

function patch(store) {
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
    const pinia = document.getElementById("vue-app")?.__vue_app__?.config.globalProperties.$pinia;
    if (!pinia) return;
    pinia._s.forEach(patch);
    pinia.use(({ store }) => patch(store));
  },
});
