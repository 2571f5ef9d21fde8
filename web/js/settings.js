// The user's editor settings: kept in localStorage, shown in the settings panel (toolbar gear),
// and applied through listeners, so each module reacts to the settings it cares about.

import { ask } from "./dialog.js";
import { el } from "./dom.js";

const STORAGE_KEY = "nodeflow.settings";

/** Every setting: its default and how the panel shows it. */
export const SETTINGS = {
  minimap: { label: "Show the minimap", default: true },
  linkStyle: { label: "Link style", default: "spline", choices: ["spline", "straight", "linear"] },
  snapToGrid: { label: "Snap nodes to the grid when moved", default: false },
  confirm: { label: "Confirm before deleting a saved workflow or clearing the queue or history",
             default: true },
  seedControl: { label: "New nodes' seeds, after each run", default: "fixed",
                 choices: ["fixed", "increment", "decrement", "randomize"] },
};

class Settings {
  constructor() {
    this.values = {};
    this.listeners = [];
    let stored = {};
    try {
      stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") ?? {};
    } catch {
      stored = {}; // a damaged entry: the defaults, rewritten on the next change
    }
    for (const [key, spec] of Object.entries(SETTINGS)) {
      const value = stored[key];
      const valid = spec.choices ? spec.choices.includes(value) : typeof value === typeof spec.default;
      this.values[key] = valid ? value : spec.default;
    }
  }

  get(key) {
    return this.values[key];
  }

  set(key, value) {
    this.values[key] = value;
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.values));
    for (const listener of this.listeners) listener(key, value);
  }

  /** `listener(key, value)` now for every setting, then on each change. */
  watch(listener) {
    this.listeners.push(listener);
    for (const [key, value] of Object.entries(this.values)) listener(key, value);
  }

  /** Ask before a destructive action, unless the user turned confirmations off: true to go on. */
  async confirm(title, message, ok) {
    return !this.values.confirm || (await ask({ title, message, ok })) === true;
  }
}

export const settings = new Settings();

/** The settings panel: one control per setting, each saved as soon as it changes. */
export class SettingsPanel {
  constructor(root, button) {
    this.root = root;
    this.button = button; // opens and closes it; Escape or a click elsewhere closes it too
    root.replaceChildren(el("h2", {}, "Settings"), ...Object.entries(SETTINGS).map(
      ([key, spec]) => this.#control(key, spec)));
    button.addEventListener("click", () => this.show(root.hidden));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !root.hidden) this.show(false);
    });
    document.addEventListener("pointerdown", (event) => {
      if (!root.hidden && !root.contains(event.target) && !button.contains(event.target)) {
        this.show(false);
      }
    });
  }

  show(open) {
    this.root.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.root.querySelector("input, select")?.focus();
  }

  #control(key, spec) {
    const id = `setting-${key}`;
    let input;
    if (spec.choices) {
      input = el("select", { id, name: key },
                 ...spec.choices.map((c) => el("option", { value: c }, c)));
      input.value = settings.get(key);
      input.onchange = () => settings.set(key, input.value);
    } else {
      input = el("input", { id, name: key, type: "checkbox" });
      input.checked = settings.get(key);
      input.onchange = () => settings.set(key, input.checked);
    }
    return el("div", { class: spec.choices ? "setting choice" : "setting" },
              spec.choices ? el("label", { for: id }, spec.label) : null, input,
              spec.choices ? null : el("label", { for: id }, spec.label));
  }
}
