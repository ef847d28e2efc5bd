import ts from 'typescript';

// The check behind test/architecture.test.ts's guest-code tests: code that runs inside isolates lives in
// `*.sandbox.ts` modules (docs/ARCHITECTURE.md, "Code that runs inside isolates"), not in template strings.

export interface GuestTemplate {
  line: number;
  /** Non-blank lines of the template literal. */
  lines: number;
  /** The literal's text from its backtick, cut to 60 characters. */
  start: string;
}

/** What marks a template literal as guest JavaScript: an exported function, the `ccf` global, or the global object. */
const GUEST = /\bexport\s+(?:async\s+)?function\b|\bccf\.|\bglobalThis\b/;

/** Template literals (plain, with substitutions, or tagged like String.raw) of more than `maxLines` non-blank lines that look like guest code. */
export function guestTemplates(path: string, text: string, maxLines: number): GuestTemplate[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: GuestTemplate[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node)) {
      const literal = node.getText(source);
      const lines = literal.slice(1, -1).split('\n').filter((l) => l.trim() !== '').length;
      if (lines > maxLines && GUEST.test(literal)) {
        found.push({ line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, lines, start: literal.slice(0, 60) });
      }
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The modules a file imports at run time: type-only imports and re-exports (and `import('…')` types) leave nothing behind and are skipped. */
export function runtimeImports(path: string, text: string): Array<{ line: number; specifier: string }> {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Array<{ line: number; specifier: string }> = [];
  const add = (node: ts.Node, specifier: ts.Expression) => {
    found.push({ line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, specifier: ts.isStringLiteralLike(specifier) ? specifier.text : '<computed>' });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const onlyTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!onlyTypes) add(node, node.moduleSpecifier);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) add(node, node.moduleSpecifier);
    else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require')) && node.arguments[0]) {
      add(node, node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
