// A task function: runs in the node's JS sandbox (isolated-vm) over the task's input file, as Teaclave's
// executor runs a function. `args` is the task's payload (JSON, optional), `io` reaches the declared inputs
// and outputs (function.json's "interface"). The return value is the task's result.
export function entrypoint(args, io) {
  const top = Number(args?.top ?? 10);
  const words = io.inputText('text').toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  const counts = new Map();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top);
  io.output('counts', ranked.map(([w, n]) => `${w} ${n}\n`).join(''));
  return `${words.length} words, ${counts.size} distinct`;
}
