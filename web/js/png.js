// The text chunks of a PNG file (tEXt, zTXt, iTXt): where nodeflow ("nodeflow") and ComfyUI
// ("workflow", "prompt") keep the workflow inside a saved image.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export function isPng(bytes) {
  return SIGNATURE.every((b, i) => bytes[i] === b);
}

export async function pngTexts(buffer) {
  const bytes = new Uint8Array(buffer);
  if (!isPng(bytes)) throw new Error("not a PNG file");
  const view = new DataView(buffer);
  const texts = {};
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    at += 12 + length;
    if (type === "IEND") break;
    const nul = data.indexOf(0);
    if (nul < 0) continue;
    const key = latin1.decode(data.subarray(0, nul));
    if (type === "tEXt") {
      texts[key] = latin1.decode(data.subarray(nul + 1));
    } else if (type === "zTXt") {
      texts[key] = latin1.decode(await inflate(data.subarray(nul + 2)));
    } else if (type === "iTXt") {
      const compressed = data[nul + 1] === 1;
      let rest = nul + 3;
      rest = data.indexOf(0, rest) + 1; // language tag
      rest = data.indexOf(0, rest) + 1; // translated keyword
      const body = data.subarray(rest);
      texts[key] = utf8.decode(compressed ? await inflate(body) : body);
    }
  }
  return texts;
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
