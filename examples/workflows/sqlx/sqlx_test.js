// EDGELESS's functions/sqlx_test, in JS: keeps { foo, bar } in the sqlx resource mapped to `database`:
// INSERT at init, on each number cast to it SELECT then UPDATE, DELETE at stop, all by call with $1 (the
// workflow) bound by the resource. Unlike the original it also casts each reply to `log` (a file-log), so
// `tessera workflow file sqlx replies.log` shows what the database answered.

// Rust's `parse::<f32>().unwrap_or_default()`.
function f32(text) {
  const v = /^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)$/i.test(text ?? '') ? Number(text) : 0;
  return Math.fround(Number.isNaN(v) ? 0 : v);
}

// serde_json's text of an f32 (ryu): the shortest decimal that reads back as the same f32, "42.0" for 42.
function f32Json(v) {
  if (!Number.isFinite(v)) return 'null'; // serde_json writes NaN and infinities as null
  for (let p = 1; p <= 9; p++) {
    const s = String(Number(v.toPrecision(p)));
    if (Math.fround(Number(s)) === v) return Number.isInteger(Number(s)) && !s.includes('e') ? `${s}.0` : s;
  }
  return String(v);
}

const state = (foo, bar) => `{"foo":${f32Json(foo)},"bar":${JSON.stringify(bar)}}`;

// sqlx_test's call_wrapper: any reply counts (parsed or not), NoReply and Err do not.
function callWrapper(sql) {
  const r = edgeless.call('database', sql);
  edgeless.cast('log', r.type === 'reply' ? r.data : r.type);
  return r.type === 'reply';
}

export function handle_init(payload) {
  callWrapper(`INSERT INTO WorkflowState (id, metadata) Values($1, '${state(f32(payload), 'initial')}')`);
}

export function handle_cast(src, message) {
  const value = f32(message);
  if (callWrapper('SELECT id, metadata FROM WorkflowState WHERE id=$1')) {
    callWrapper(`UPDATE WorkflowState SET metadata='${state(value, 'subsequent')}'  WHERE id = $1`);
  }
}

export function handle_stop() {
  callWrapper('DELETE FROM WorkflowState WHERE id=$1');
}
