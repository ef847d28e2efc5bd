import { guestSource } from '../sandbox/guest-source.js';

/**
 * The `ccf` global and the request dispatcher, as the script the sandbox runs before an app's modules
 * (written in prelude.sandbox.ts, bundled at build time).
 */
export const CCF_PRELUDE = guestSource(import.meta.url, 'prelude');

/**
 * The wrapper module each endpoint runs: it imports the endpoint's module, so that module is found and
 * linked like any other of the bundle, and hands its namespace to the prelude's dispatcher.
 */
export function dispatchModule(modulePath: string, exportName: string): string {
  return `import * as m from ${JSON.stringify('.' + modulePath)};
export function __dispatch(req, body) { return __tessera_dispatch(m, ${JSON.stringify(exportName)}, req, body); }
`;
}
