// The Packs panel: every node pack loaded (name, version, where it comes from, its node
// types) with what it printed while it was imported, which never reaches the server's stdout.
import { api } from "./api.js";
import { el } from "./dom.js";

const KINDS = { builtin: "built-in", entry_point: "pip package", custom: "custom_nodes",
                comfyui: "ComfyUI pack", component: "components" };

export class PacksPanel {
  constructor(root, { notify }) {
    this.root = root;
    this.notify = notify;
  }

  async refresh() {
    let info;
    try {
      info = await api.nodeflowInfo();
    } catch (error) {
      this.notify(`cannot list the node packs: ${error.message}`, "error");
      return;
    }
    const packs = [...info.packs].sort((a, b) => (a.kind === "builtin") - (b.kind === "builtin") ||
                                               a.name.localeCompare(b.name));
    this.root.replaceChildren(el("h3", {}, "Node packs"),
                              el("ul", { class: "packs" }, ...packs.map(entry)));
  }
}

function entry(pack) {
  const output = pack.import_output?.trim();
  const count = pack.nodes.length;
  return el("li", { class: "pack", "data-pack": pack.name },
    el("div", { class: "pack-head" }, el("strong", {}, pack.name), " ",
       el("span", { class: "dim" }, `${pack.version} · ${KINDS[pack.kind] ?? pack.kind}`)),
    el("div", { class: "dim pack-origin", title: pack.origin }, pack.origin),
    el("div", { class: "dim" }, `${count} node type${count === 1 ? "" : "s"}`),
    output ? el("details", { class: "import-output" },
                el("summary", {}, "printed at import"), el("pre", {}, output)) : null);
}
