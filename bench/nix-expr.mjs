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
  // Store paths in a value are found by pattern and looked up, so this is linear in the text.
  const exprOf = new Map(outPaths);
  const pathRe = /\/[^\s"'=:]*\/[0-9a-z]{32}-[A-Za-z0-9+\-._?=]+/g;
  const interpolate = (value) => {
    let out = '';
    let last = 0;
    for (const m of value.matchAll(pathRe)) {
      // The longest known store path that is a prefix of the match (a match may run on: /bin/bash).
      let path = m[0];
      let expr = exprOf.get(path);
      while (!expr && path.includes('/', 1)) {
        const cut = path.lastIndexOf('/');
        if (cut <= 0) break;
        path = path.slice(0, cut);
        expr = exprOf.get(path);
      }
      if (!expr) continue;
      out += nixString(value.slice(last, m.index)).slice(1, -1) + `\${${expr}}`;
      last = m.index + path.length;
    }
    return '"' + out + nixString(value.slice(last)).slice(1, -1) + '"';
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
    // In the order declared (the env's `outputs`), which Nix keeps there; `drv.outputs` is sorted.
    const outs = d.drv.env['outputs']?.split(' ') ?? Object.keys(d.drv.outputs);
    if (outs.length > 1 || outs[0] !== 'out') attrs.push(`outputs = [ ${outs.map((o) => nixString(o)).join(' ')} ];`);
    attrs.push(`args = [ ${d.drv.args.map(interpolate).join(' ')} ];`);
    lines.push(`  ${v} = derivation { ${attrs.join(' ')} };`);
    for (const [o, out] of Object.entries(d.drv.outputs)) exprOf.set(out.path, `${v}.${o}`);
    order.push(d.drvPath);
  }
  lines.push('in [');
  for (const d of derivations) lines.push(`  ${varOf.get(d.drvPath)}`);
  lines.push(']');
  return { expr: lines.join('\n') + '\n', order };
}
