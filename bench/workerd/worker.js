// The workerd side of `npm run bench -- workerd`: the same constant-JSON handler as the Tessera app's
// `constant` endpoint (bench/workerd.ts), as a Workers module.
const BODY = JSON.stringify({ msg: 'hello', n: 42 });

export default {
  async fetch() {
    return new Response(BODY, { headers: { 'content-type': 'application/json' } });
  },
};
