/**
 * A small recursive-descent parser for arithmetic in natural-language queries.
 * Never eval: only numbers, + - * / % ^, parentheses and unary signs are understood.
 *
 *   expr   = term (("+" | "-") term)*
 *   term   = unary (("*" | "/" | "%") unary)*
 *   unary  = ("+" | "-") unary | power
 *   power  = primary ("^" unary)?          (right-associative, binds tighter than unary minus)
 *   primary= number | "(" expr ")"
 */
export type ArithmeticResult = { ok: true; value: number } | { ok: false; error: string };

const MAX_LENGTH = 256;
const MAX_DEPTH = 64;

type Token = { kind: "num"; value: number } | { kind: "op"; value: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (/[0-9.]/.test(ch)) {
      const m = /^(\d+(\.\d+)?|\.\d+)/.exec(src.slice(i));
      if (!m) throw new Error(`bad number at ${i}`);
      tokens.push({ kind: "num", value: Number(m[0]) });
      i += m[0].length;
    } else if ("+-*/%^()".includes(ch)) {
      tokens.push({ kind: "op", value: ch });
      i++;
    } else {
      throw new Error(`unexpected '${ch}' at ${i}`);
    }
  }
  return tokens;
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): number {
    const value = this.expr();
    if (this.pos < this.tokens.length) throw new Error("unexpected trailing input");
    return value;
  }

  private peekOp(): string | undefined {
    const t = this.tokens[this.pos];
    return t?.kind === "op" ? t.value : undefined;
  }

  private expr(): number {
    let value = this.term();
    for (let op = this.peekOp(); op === "+" || op === "-"; op = this.peekOp()) {
      this.pos++;
      const rhs = this.term();
      value = op === "+" ? value + rhs : value - rhs;
    }
    return value;
  }

  private term(): number {
    let value = this.unary();
    for (let op = this.peekOp(); op === "*" || op === "/" || op === "%"; op = this.peekOp()) {
      this.pos++;
      const rhs = this.unary();
      if ((op === "/" || op === "%") && rhs === 0) throw new Error("division by zero");
      value = op === "*" ? value * rhs : op === "/" ? value / rhs : value % rhs;
    }
    return value;
  }

  private unary(): number {
    const op = this.peekOp();
    if (op === "+" || op === "-") {
      this.pos++;
      const v = this.nested(() => this.unary());
      return op === "-" ? -v : v;
    }
    return this.power();
  }

  private power(): number {
    const base = this.primary();
    if (this.peekOp() !== "^") return base;
    this.pos++;
    return base ** this.nested(() => this.unary());
  }

  private primary(): number {
    const t = this.tokens[this.pos];
    if (!t) throw new Error("unexpected end of expression");
    this.pos++;
    if (t.kind === "num") return t.value;
    if (t.value !== "(") throw new Error(`unexpected '${t.value}'`);
    const value = this.nested(() => this.expr());
    if (this.peekOp() !== ")") throw new Error("missing ')'");
    this.pos++;
    return value;
  }

  /** Depth guard so "((((…" cannot blow the stack. */
  private nested(fn: () => number): number {
    if (++this.depth > MAX_DEPTH) throw new Error("expression nested too deeply");
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }
}

export function evaluateArithmetic(src: string): ArithmeticResult {
  if (src.length > MAX_LENGTH) return { ok: false, error: "expression too long" };
  try {
    const tokens = tokenize(src);
    if (tokens.length === 0) return { ok: false, error: "empty expression" };
    const value = new Parser(tokens).parse();
    if (!Number.isFinite(value)) return { ok: false, error: "result is not finite" };
    return { ok: true, value };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Finds the arithmetic inside a sentence ("what is 12*(3+4)?" → "12*(3+4)"): the longest run of
 * expression characters that holds a digit and an operator. Trailing sentence dots are dropped.
 */
export function extractExpression(text: string): string | undefined {
  const runs = text.match(/[-+*/%^().\d\s]+/g) ?? [];
  let best: string | undefined;
  for (const run of runs) {
    const candidate = run.trim().replace(/\.+$/, "").trim();
    if (!/\d/.test(candidate) || !/[-+*/%^]/.test(candidate.replace(/^[-+]/, ""))) continue;
    if (!best || candidate.length > best.length) best = candidate;
  }
  return best;
}
