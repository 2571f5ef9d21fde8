// Editing a prompt in place: a textarea laid over the prompt box of a node. It commits when
// it loses focus (or on Ctrl+Enter, before the run is queued); Escape cancels.

let open = null;

export function editText(rect, value, done) {
  closeTextEditor();
  const area = document.createElement("textarea");
  area.className = "prompt-editor";
  area.value = value ?? "";
  Object.assign(area.style, {
    left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.width}px`,
    height: `${Math.max(rect.height, 60)}px`, fontSize: `${Math.max(10, 13 * rect.scale)}px`,
  });
  let cancelled = false;
  const finish = () => {
    if (open !== area) return;
    open = null;
    area.remove();
    if (!cancelled) done(area.value);
  };
  area.addEventListener("blur", finish);
  area.addEventListener("keydown", (event) => {
    event.stopPropagation(); // typing here is text, not canvas shortcuts
    if (event.key === "Escape") {
      cancelled = true;
      area.blur();
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      area.blur();
      document.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true }));
    }
  });
  document.body.append(area);
  open = area;
  area.focus();
}

export function closeTextEditor() {
  open?.blur();
}
