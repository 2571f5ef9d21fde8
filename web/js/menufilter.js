// Long menus (a combo widget with dozens of checkpoints or samplers, the Add Node lists) get a
// filter: type to narrow the entries, arrows and Enter to pick, as in ComfyUI.

const LONG = 12;

/** Watch `root` for the canvas library's context menus and add a filter to the long ones. */
export function filterLongMenus(root) {
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const added of change.addedNodes) {
        if (added.classList?.contains("litecontextmenu")) addFilter(added);
      }
    }
  }).observe(root, { childList: true });
}

function addFilter(menu) {
  const entries = [...menu.querySelectorAll(".litemenu-entry")];
  if (entries.length < LONG || menu.querySelector(".menu-filter")) return;
  const field = document.createElement("input");
  field.className = "menu-filter";
  field.placeholder = "Filter…";
  field.setAttribute("aria-label", "Filter the list");
  menu.prepend(field);
  let shown = entries;
  let active = -1;
  const mark = () => entries.forEach((entry) => entry.classList.toggle(
    "active", entry === shown[active]));
  field.addEventListener("input", () => {
    const words = field.value.toLowerCase().split(/\s+/).filter(Boolean);
    shown = [];
    for (const entry of entries) {
      const text = entry.textContent.toLowerCase();
      const match = words.every((word) => text.includes(word));
      entry.style.display = match ? "" : "none";
      if (match) shown.push(entry);
    }
    active = shown.length ? 0 : -1;
    mark();
  });
  field.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      active = (active + step + shown.length) % Math.max(1, shown.length);
      mark();
    } else if (event.key === "Enter" && shown[active]) {
      event.preventDefault();
      // the menu's entries act on a click; a synthetic one is how the keyboard picks
      shown[active].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    } else if (event.key === "Escape") {
      menu.remove();
    }
  });
  // typing right away filters: the menu opened under the pointer, the field takes the keys
  setTimeout(() => field.focus());
}
