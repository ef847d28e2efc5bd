// CCF endpoint path templates (`/records/{id}`, `/{year}{month}{day}`), parsed once: set_js_app validates
// them with this parser, and the app dispatcher matches request paths with the result.

/** A piece of a template within one path segment: literal text, or the index of a parameter. */
export type TemplatePiece = string | number;

export interface PathTemplate {
  /** The parameter names, in order. */
  names: string[];
  /** The template split at '/': each segment a list of literal pieces and parameter indexes. */
  segments: TemplatePiece[][];
}

/**
 * Parses a template as CCF does (each `{name}` stands for one or more characters other than '/'), or
 * throws an Error naming the template. CCF accepts adjacent parameters, and so does this parser.
 */
export function parsePathTemplate(url: string): PathTemplate {
  const names: string[] = [];
  const segments: TemplatePiece[][] = [[]];
  const literal = (text: string) => {
    text.split('/').forEach((part, i) => {
      if (i > 0) segments.push([]);
      if (part) segments[segments.length - 1].push(part);
    });
  };
  let i = 0;
  while (i < url.length) {
    const start = url.indexOf('{', i);
    if (start < 0) {
      literal(url.slice(i));
      break;
    }
    literal(url.slice(i, start));
    const end = url.indexOf('}', start);
    if (end < 0) throw new Error(`endpoint ${url}: '{' without '}'`);
    const name = url.slice(start + 1, end);
    if (names.includes(name)) throw new Error(`endpoint ${url}: parameter {${name}} appears twice`);
    segments[segments.length - 1].push(names.length);
    names.push(name);
    i = end + 1;
  }
  return { names, segments };
}

/** Why a template cannot be served, or null. */
export function pathTemplateProblem(url: string): string | null {
  if (!url.includes('{')) return null;
  try {
    parsePathTemplate(url);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
