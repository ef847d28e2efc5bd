import type { FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../errors/index.js';

// Content negotiation as CCF's JSON handlers do it (src/endpoints/json_handler.cpp with
// include/ccf/http_accept.h): a JSON answer is sent only if the request's Accept header, when present,
// names application/json, application/* or */*. An entry that is no MIME type, or whose q-factor is no
// number, is 400 InvalidHeaderValue; no acceptable entry is 406 UnsupportedContentType.

interface AcceptEntry {
  type: string;
  subtype: string;
  q: number;
}

export function parseAccept(header: string): AcceptEntry[] {
  const s = header.replace(/ /g, '');
  if (s === '') return [];
  return s.split(',').map((element) => {
    const qAt = element.indexOf(';q=');
    const types = qAt === -1 ? element : element.slice(0, qAt);
    const qText = qAt === -1 ? '' : element.slice(qAt + 3);
    const slash = types.indexOf('/');
    const type = slash === -1 ? types : types.slice(0, slash);
    const subtype = slash === -1 ? '' : types.slice(slash + 1);
    if (!type || !subtype) throw new TesseraError('invalid_header_value', `Entry in Accept header is not a valid MIME type: ${element}`);
    // std::stof reads a leading number and ignores what follows; no leading number is an error.
    const q = qText === '' ? 1 : Number.parseFloat(qText);
    if (Number.isNaN(q)) throw new TesseraError('invalid_header_value', `Could not parse q-factor from MIME type in Accept header: ${element}`);
    return { type, subtype, q };
  });
}

const matches = (e: AcceptEntry, mime: string) => {
  const [t, st] = mime.split('/');
  return (e.type === '*' || e.type === t) && (e.subtype === '*' || e.subtype === st);
};

/** Throws CCF's error unless the request accepts `mime`. */
export function assertAccepts(request: FastifyRequest, mime = 'application/json'): void {
  const header = request.headers.accept;
  if (header === undefined) return;
  if (!parseAccept(header).some((e) => matches(e, mime))) {
    throw new TesseraError('not_acceptable', `No supported content type in accept header: ${header}\nOnly ${mime} is currently supported`);
  }
}

/** Sends `body` as JSON after CCF's Accept check. */
export function sendJson(request: FastifyRequest, reply: FastifyReply, body: unknown) {
  assertAccepts(request);
  return reply.type('application/json').send(body);
}
