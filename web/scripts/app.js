// Where ComfyUI extensions import `app` from ("../../scripts/app.js"); see js/comfy_extensions.js.
export { app } from "../js/comfy_extensions.js";
