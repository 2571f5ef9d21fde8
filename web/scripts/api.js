// Where ComfyUI extensions import `api` from ("../../scripts/api.js"); see js/comfy_extensions.js.
export { api } from "../js/comfy_extensions.js";
