// The server's HTTP routes and its websocket (ComfyUI's shapes, plus nodeflow's own routes).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body, { raw = false } = {}) {
  const init = { method, headers: {} };
  if (body instanceof FormData || body instanceof Blob) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  clientId: sessionStorage.getItem("nodeflow.clientId") ?? crypto.randomUUID(),

  /** Node schemas by type, as /object_info's "nodeflow" parts; read from /nodeflow/object_info,
   * which stays nodeflow's when /object_info speaks ComfyUI's names (--frontend comfyui). */
  objectInfo: async () => Object.fromEntries(Object.entries(
    (await request("GET", "/nodeflow/object_info")).nodes).map(([t, s]) => [t, { nodeflow: s }])),
  /** nodeflow's schemas with the packs and the packs that failed to load. */
  nodeflowInfo: () => request("GET", "/nodeflow/object_info"),
  extensionListing: () => request("GET", "/nodeflow/extensions"),
  queuePrompt(workflow, extraData = null) {
    return request("POST", "/prompt", { prompt: workflow, client_id: this.clientId,
                                        ...(extraData ? { extra_data: extraData } : {}) });
  },
  systemStats: () => request("GET", "/system_stats"),
  queue: () => request("GET", "/queue"),
  deleteQueued: (ids) => request("POST", "/queue", { delete: ids }),
  interrupt: () => request("POST", "/interrupt", {}),
  history: (max = 64) => request("GET", `/history?max_items=${max}`),
  deleteHistory: (ids) => request("POST", "/history", { delete: ids }),
  clearQueue: () => request("POST", "/queue", { clear: true }),
  historyItem: (id) => request("GET", `/history/${encodeURIComponent(id)}`),
  clearHistory: () => request("POST", "/history", { clear: true }),

  savedWorkflows: async () => (await request("GET", "/workflows")).workflows,
  savedWorkflow: (name) => request("GET", `/workflows/${encodePath(name)}`),
  saveWorkflow: (name, doc) => request("PUT", `/workflows/${encodePath(name)}`, doc),
  deleteWorkflow: (name) => request("DELETE", `/workflows/${encodePath(name)}`),

  // the example workflows that ship with nodeflow (workflows/ in the package)
  examples: async () => (await request("GET", "/examples")).examples,
  example: (name) => request("GET", `/examples/${encodePath(name)}`),

  /** A ComfyUI workflow (UI or API format, or a PNG carrying one) as a nodeflow workflow. */
  importComfy: (file) => request("POST", "/nodeflow/import", file),

  async upload(file) {
    const form = new FormData();
    form.append("image", file, file.name);
    return request("POST", "/upload/image", form);
  },

  viewUrl({ filename, subfolder = "", type = "output" }) {
    const query = new URLSearchParams({ filename, subfolder, type });
    return `/view?${query}`;
  },

  /** Open the websocket; `on` maps message types to handlers, "preview" gets a Blob. */
  connect(on) {
    sessionStorage.setItem("nodeflow.clientId", this.clientId);
    const url = new URL(`/ws?clientId=${encodeURIComponent(this.clientId)}`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => on.open?.();
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") {
        // ComfyUI's preview frame: event type, image type (4 bytes each), then the image
        const view = new DataView(event.data);
        if (view.getUint32(0) === 1) {
          const mime = view.getUint32(4) === 2 ? "image/png" : "image/jpeg";
          on.preview?.(new Blob([event.data.slice(8)], { type: mime }));
        }
        return;
      }
      const message = JSON.parse(event.data);
      on[message.type]?.(message.data);
      for (const listener of messageListeners) listener(message.type, message.data);
    };
    socket.onclose = () => {
      on.close?.();
      setTimeout(() => this.connect(on), 1000);
    };
    return socket;
  },
};

/** Called with (type, data) for every websocket message (ComfyUI extensions listen here). */
export const messageListeners = new Set();

function encodePath(name) {
  return name.split("/").map(encodeURIComponent).join("/");
}
