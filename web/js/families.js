// Growing input families (a node declared with `**image: Image`): slots image_1, image_2, ...
// of which the editor shows every connected one plus one free slot at the end, so a new slot
// appears when the last one is connected. Nothing about them is saved but the links: a loaded
// workflow gets back the slots its links name.

const MEMBER = /^(.+)_([1-9][0-9]*)$/;

/** The family of `schema` that input `name` belongs to ({family, index}), or null. */
export function memberOf(schema, name) {
  const match = MEMBER.exec(name);
  const family = match && (schema?.families ?? []).find((f) => f.name === match[1]);
  const index = match ? Number(match[2]) : 0;
  return family && index <= family.max ? { family, index } : null;
}

function members(node, family) {
  return (node.inputs ?? [])
    .map((slot, at) => ({ slot, at, member: memberOf(node.nf.schema, slot.name) }))
    .filter((m) => m.member?.family === family)
    .sort((a, b) => a.member.index - b.member.index);
}

function addMember(node, family, index) {
  const label = `${family.display_name ?? family.name} ${index}`;
  node.addInput(`${family.name}_${index}`, family.type, { label });
}

/** The slots of a new node: as many as must be connected, at least one. */
export function buildFamilies(node) {
  for (const family of node.nf.schema.families ?? []) {
    const first = Math.max(family.min, 1);
    for (let index = 1; index <= first; index += 1) addMember(node, family, index);
  }
}

/** Slots for every member in `names` (a loaded node's inputs) up to the highest one. */
export function growTo(node, names) {
  for (const family of node.nf.schema.families ?? []) {
    const wanted = Math.max(0, ...names.map((n) => memberOf(node.nf.schema, n))
      .filter((m) => m?.family === family).map((m) => m.index));
    const have = members(node, family).map((m) => m.member.index);
    for (let index = 1; index <= wanted; index += 1) {
      if (!have.includes(index)) addMember(node, family, index);
    }
  }
}

/** After a link changed: one free slot after the last connected one (within min and max).
 * Returns whether slots were added or removed. */
export function syncFamilies(node) {
  let changed = false;
  for (const family of node.nf.schema.families ?? []) {
    let list = members(node, family);
    const last = list.at(-1);
    if (last && last.slot.link != null && last.member.index < family.max) {
      addMember(node, family, last.member.index + 1);
      changed = true;
      continue;
    }
    const floor = Math.max(family.min, 1);
    while (list.length > floor && list.at(-1).slot.link == null && list.at(-2).slot.link == null) {
      node.removeInput(list.at(-1).at);
      list = members(node, family);
      changed = true;
    }
  }
  if (changed) node.setSize([node.size[0], node.computeSize()[1]]);
  return changed;
}
