// Re-express lowered derivations as one Nix expression (`derivation { … }` per .drv), so that
// `nix-instantiate` computes the same derivations: used by the bench (side by side with Nix)
// and the tests (Nix as an oracle for our store paths). Input paths in env values become
// interpolations of the input derivations; text items become `builtins.toFile`.

function nixString(s) {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$\{/g, '\\${').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t') + '"';
}

/**
 * `derivations`: FinalizedDerivation[] in dependency order; `items`: Map path → text item.
 * Returns { expr, order } where order[i] is the .drv path the i-th list element must produce.
 */
export function toNixExpression(derivations, items) {
  const varOf = new Map(); // drv path → variable
  const outPaths = []; // [path, replacement text]
  const lines = ['let'];
  let n = 0;
  for (const [path, item] of items) {
    if (item.kind !== 'text') continue;
    const v = `t${n++}`;
    lines.push(`  ${v} = builtins.toFile ${nixString(item.name)} ${nixString(item.text)};`);
    outPaths.push([path, v]);
  }
  const interpolate = (value) => {
    // Replace store paths we know by interpolations; longest first so no prefix clash.
    let parts = [{ text: value }];
    for (const [path, expr] of outPaths) {
      const next = [];
      for (const part of parts) {
        if (part.expr) { next.push(part); continue; }
        const pieces = part.text.split(path);
        pieces.forEach((piece, i) => {
          if (i > 0) next.push({ expr });
          if (piece) next.push({ text: piece });
        });
      }
      parts = next;
    }
    return '"' + parts.map((p) => (p.expr ? `\${${p.expr}}` : nixString(p.text).slice(1, -1))).join('') + '"';
  };
  const order = [];
  for (const d of derivations) {
    const v = `d${varOf.size}`;
    varOf.set(d.drvPath, v);
    const attrs = [];
    for (const [k, value] of Object.entries(d.drv.env)) {
      if (k in d.drv.outputs || k === 'outputs') continue;
      attrs.push(`${JSON.stringify(k)} = ${interpolate(value)};`);
    }
    const outs = Object.keys(d.drv.outputs);
    if (outs.length > 1 || outs[0] !== 'out') attrs.push(`outputs = [ ${outs.map((o) => nixString(o)).join(' ')} ];`);
    attrs.push(`args = [ ${d.drv.args.map(interpolate).join(' ')} ];`);
    lines.push(`  ${v} = derivation { ${attrs.join(' ')} };`);
    for (const [o, out] of Object.entries(d.drv.outputs)) outPaths.push([out.path, `${v}.${o}`]);
    order.push(d.drvPath);
  }
  lines.push('in [');
  for (const d of derivations) lines.push(`  ${varOf.get(d.drvPath)}`);
  lines.push(']');
  return { expr: lines.join('\n') + '\n', order };
}
