// Opening workflows from files (picked, or dropped on the page), and downloading them.
// A nodeflow .json or a PNG saved by nodeflow opens here; ComfyUI files go through the
// server's import.
import { api } from "./api.js";
import { isPng, pngTexts } from "./png.js";
import { isWorkflow, workflowText } from "./workflow.js";

/** The nodeflow workflow inside `file` (a .json or a .png); throws with a readable message. */
export async function readWorkflowFile(file) {
  const buffer = await file.arrayBuffer();
  if (isPng(new Uint8Array(buffer))) {
    const texts = await pngTexts(buffer);
    if (texts.nodeflow) return JSON.parse(texts.nodeflow);
    if (texts.workflow || texts.prompt) return importComfy(file);
    throw new Error(`${file.name} carries no workflow`);
  }
  let data;
  try {
    data = JSON.parse(new TextDecoder().decode(buffer));
  } catch {
    throw new Error(`${file.name} is neither a workflow (.json) nor a PNG image`);
  }
  return isWorkflow(data) ? data : importComfy(file);
}

async function importComfy(file) {
  try {
    const result = await api.importComfy(file);
    const where = (p) => (p.node ? `node ${p.node}${p.input ? `.${p.input}` : ""}: ` : "");
    const notes = [
      ...(result.problems ?? []).map((p) => ({ text: `left out: ${where(p)}${p.message}`, kind: "error" })),
      ...(result.warnings ?? []).map((p) => ({ text: `${where(p)}${p.message}`, kind: "error" })),
      ...(result.notes ?? []).map((text) => ({ text, kind: "info" })),
    ];
    return { ...result.workflow, importNotes: notes };
  } catch (error) {
    if (error.status === 404 || error.status === 405) {
      throw new Error("this server cannot import ComfyUI workflows yet");
    }
    throw new Error(`cannot import ${file.name}: ${error.message}`);
  }
}

export function download(doc, filename) {
  const blob = new Blob([workflowText(doc)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename.endsWith(".json") ? filename : `${filename}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

export function pickFile(accept, onFile) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = accept;
  input.onchange = () => input.files[0] && onFile(input.files[0]);
  input.click();
}

/** Call `onFile` for a file dropped anywhere on `target`. */
export function acceptDrops(target, onFile) {
  target.addEventListener("dragover", (event) => {
    if (event.dataTransfer?.types.includes("Files")) {
      event.preventDefault();
      document.body.classList.add("dropping");
    }
  });
  target.addEventListener("dragleave", () => document.body.classList.remove("dropping"));
  target.addEventListener("drop", (event) => {
    document.body.classList.remove("dropping");
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    onFile(file);
  }, true);
}
