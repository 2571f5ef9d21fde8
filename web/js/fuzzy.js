// Finding node types by a few typed letters: the search box and the node library both rank
// with this, so a query finds the same nodes in both places.

/** How well `query` matches `text`: null when its letters do not all appear in order; higher
 * is better (a whole word or a word start beats letters spread over the text). */
export function fuzzyScore(query, text) {
  const q = query.toLowerCase().replace(/\s+/g, "");
  const t = text.toLowerCase();
  if (!q) return 0;
  const exact = t.indexOf(q);
  if (exact >= 0) return 1000 - exact * 2 - (t.length - q.length) * 0.1 + (isWordStart(t, exact) ? 200 : 0);
  let score = 0;
  let from = 0;
  let previous = -2;
  for (const ch of q) {
    const at = t.indexOf(ch, from);
    if (at < 0) return null;
    score += at === previous + 1 ? 12 : isWordStart(t, at) || isUpper(text, at) ? 8 : 1;
    previous = at;
    from = at + 1;
  }
  return score - (t.length - q.length) * 0.05;
}

function isWordStart(text, at) {
  return at === 0 || /[\s_\-/.:|+()]/.test(text[at - 1]);
}

function isUpper(text, at) {
  return text[at] !== text[at].toLowerCase() && text[at - 1] === text[at - 1]?.toLowerCase();
}

/** Node types for `query`, best first: [{type, schema, score}]. Every word of the query must
 * match the type name, display name, category or description; the name counts most. A
 * `filter(schema)` (say, "has an input of type LATENT") narrows the list first. */
export function rankTypes(query, schemas, filter = () => true) {
  const words = query.trim().split(/\s+/).filter(Boolean);
  const found = [];
  for (const [type, schema] of Object.entries(schemas)) {
    if (schema.deprecated || !filter(schema)) continue;
    let total = 0;
    for (const word of words) {
      const best = Math.max(
        ...[[type, 1], [schema.display_name ?? "", 1], [schema.category ?? "", 0.4],
            [schema.description ?? "", 0.2]]
          .map(([text, weight]) => (fuzzyScore(word, text) ?? -Infinity) * weight));
      if (best === -Infinity) {
        total = null;
        break;
      }
      total += best;
    }
    if (total !== null) found.push({ type, schema, score: total });
  }
  return found.sort((a, b) => b.score - a.score || a.type.localeCompare(b.type));
}
