// The links of a markdown file and the anchors its headings make, as GitHub renders them. Fenced code
// blocks and `code spans` hold no links.

export interface MdLink {
  target: string;
  line: number;
}

/** Text without fenced code blocks (kept as empty lines, so line numbers hold) and without code spans. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '');
  });
}

export function mdLinks(markdown: string): MdLink[] {
  const links: MdLink[] = [];
  prose(markdown).forEach((line, i) => {
    // Inline links and images: [text](target "title") — the target ends at a space or the closing parenthesis.
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1], line: i + 1 });
    // Reference definitions: [label]: target
    const ref = line.match(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/);
    if (ref) links.push({ target: ref[1], line: i + 1 });
    // HTML links and images.
    for (const m of line.matchAll(/<(?:a|img)\s[^>]*?(?:href|src)="([^"]*)"/gi)) links.push({ target: m[1], line: i + 1 });
  });
  return links;
}

/** The anchors of a file's headings: GitHub's slugs (lower case, punctuation dropped, spaces as hyphens, repeats numbered). */
export function mdAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && line.match(/^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!heading) continue;
    const base = heading[1]
      .replace(/<[^>]+>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n ? `${base}-${n}` : base);
  }
  return anchors;
}
