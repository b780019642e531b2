// Definitions as text: a definition (JSON from the API) written as YAML or JSON, the line of a place that
// the API names (such as "steps[1].then[0].send_email.subject") in YAML or JSON text, and a line diff.

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;
// A string YAML reads back as the same string without quotes: it starts with a letter, has no ": " nor " #",
// no control character, no space at its end (and, inside [...], none of ",[]{}").
const PLAIN = /^[A-Za-z_][^\u0000-\u001f\u007f\u0085\u2028\u2029\ufeff]*$/;
const DURATION = /^\d+[smhdw](\d+[smhdw])*$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function quote(text) {
  return JSON.stringify(text);
}

function plainString(text, flow = false) {
  if (DURATION.test(text)) return true;
  if (!PLAIN.test(text) || RESERVED.test(text) || / $/.test(text) || /:$|: | #/.test(text)) return false;
  return !(flow && /[,[\]{}]/.test(text));
}

function scalar(value, flow = false) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return plainString(value, flow) ? value : quote(value);
  return String(value);
}

function keyText(key) {
  return KEY.test(key) && !RESERVED.test(key) ? key : quote(key);
}

function isScalar(value) {
  return value === null || typeof value !== "object";
}

// A multi-line string as a literal block (|, or |- without its last line break), when YAML reads it back
// the same: otherwise a quoted string.
function literal(text, pad) {
  if (!text.includes("\n") || /[\r\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u2028\u2029\ufeff]/.test(text)) return null;
  if (/^[ \t]/.test(text) || text.endsWith("\n\n") || /^\n/.test(text)) return null;
  const chomp = text.endsWith("\n") ? "|" : "|-";
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  return [chomp, ...body.split("\n").map((line) => (line ? pad + line : ""))];
}

function flowList(items) {
  const text = `[${items.map((item) => scalar(item, true)).join(", ")}]`;
  return text.length <= 72 ? text : null;
}

function emitMap(map, indent, out) {
  const pad = " ".repeat(indent);
  for (const [key, value] of Object.entries(map)) {
    const head = `${pad}${keyText(key)}:`;
    if (typeof value === "string") {
      const block = literal(value, pad + "  ");
      if (block) {
        out.push(`${head} ${block[0]}`, ...block.slice(1));
        continue;
      }
    }
    if (isScalar(value)) out.push(`${head} ${scalar(value)}`);
    else if (Array.isArray(value)) {
      const flow = value.length === 0 ? "[]" : value.every(isScalar) ? flowList(value) : null;
      if (flow) out.push(`${head} ${flow}`);
      else {
        out.push(head);
        emitList(value, indent + 2, out);
      }
    } else if (Object.keys(value).length === 0) out.push(`${head} {}`);
    else {
      out.push(head);
      emitMap(value, indent + 2, out);
    }
  }
}

function emitList(list, indent, out) {
  const pad = " ".repeat(indent);
  for (const item of list) {
    if (typeof item === "string" && literal(item, "")) {
      const block = literal(item, pad + "  ");
      out.push(`${pad}- ${block[0]}`, ...block.slice(1));
    } else if (isScalar(item)) out.push(`${pad}- ${scalar(item)}`);
    else {
      const inner = [];
      if (Array.isArray(item)) emitList(item, indent + 2, inner);
      else if (Object.keys(item).length === 0) inner.push(`${pad}  {}`);
      else emitMap(item, indent + 2, inner);
      if (inner.length === 0) inner.push(`${pad}  []`);
      inner[0] = `${pad}- ${inner[0].slice(indent + 2)}`;
      out.push(...inner);
    }
  }
}

/** A definition as YAML text (block style, strings quoted only where YAML would read them otherwise). */
export function toYaml(value) {
  const out = [];
  if (Array.isArray(value)) emitList(value, 0, out);
  else emitMap(value, 0, out);
  return out.join("\n") + "\n";
}

export function toJson(value) {
  return JSON.stringify(value, null, 2) + "\n";
}

export function looksLikeJson(text) {
  return /^\s*[{[]/.test(text);
}

// --- where a place is -----------------------------------------------------------------------------------------

function join(parent, key) {
  return parent ? `${parent}.${key}` : key;
}

function unquote(key) {
  if (key.startsWith('"')) {
    try {
      return JSON.parse(key);
    } catch {
      return key.slice(1, -1);
    }
  }
  if (key.startsWith("'")) return key.slice(1, -1).replace(/''/g, "'");
  return key;
}

const YAML_KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#{[\]},&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/;

/** The line (1-based) of each place of a YAML document in block style: "steps[1].then[0]" -> 12. */
export function yamlPlaces(text) {
  const places = new Map();
  const root = { indent: -1, kind: "map", path: "", pending: null };
  const stack = [root];
  const top = () => stack[stack.length - 1];
  const child = (node) => (node.kind === "seq" ? `${node.path}[${node.index}]` : join(node.path, node.pending || ""));
  let block = null; // the indentation a block scalar's lines are deeper than
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const indent = raw.search(/\S/);
    if (block !== null) {
      if (indent === -1 || indent > block) return;
      block = null;
    }
    if (indent === -1 || raw[indent] === "#" || /^(---|\.\.\.)(\s|$)/.test(raw)) return;
    let col = indent;
    let rest = raw.slice(indent).replace(/\s+#.*$/, "").trimEnd();
    for (;;) {
      if (rest === "-" || rest.startsWith("- ")) {
        while (stack.length > 1 && top().indent > col) stack.pop();
        let seq = top();
        if (!(seq.kind === "seq" && seq.indent === col)) {
          seq = { indent: col, kind: "seq", path: child(top()), index: -1 };
          stack.push(seq);
        }
        seq.index += 1;
        const path = child(seq);
        if (!places.has(path)) places.set(path, line);
        const after = rest.slice(1);
        const gap = after.search(/\S/);
        if (gap === -1) return;
        col += 1 + gap;
        rest = after.slice(gap);
        continue;
      }
      const found = YAML_KEY.exec(rest);
      if (!found) return;
      while (stack.length > 1 && (top().indent > col || (top().kind === "seq" && top().indent === col))) stack.pop();
      let map = top();
      if (!(map.kind === "map" && map.indent === col)) {
        map = { indent: col, kind: "map", path: child(top()), pending: null };
        stack.push(map);
      }
      const key = unquote(found[1].trim());
      map.pending = key;
      const path = join(map.path, key);
      if (!places.has(path)) places.set(path, line);
      const value = (found[2] || "").trim();
      if (/^[|>]/.test(value)) block = col;
      return;
    }
  });
  return places;
}

/** The line (1-based) of each place of a JSON document, as yamlPlaces; throws on JSON it cannot read. */
export function jsonPlaces(text) {
  const places = new Map();
  let at = 0;
  let line = 1;
  const space = () => {
    while (at < text.length && /\s/.test(text[at])) {
      if (text[at] === "\n") line += 1;
      at += 1;
    }
  };
  const string = () => {
    const start = at;
    at += 1;
    while (at < text.length && text[at] !== '"') at += text[at] === "\\" ? 2 : 1;
    at += 1;
    return JSON.parse(text.slice(start, at));
  };
  const value = (path) => {
    space();
    if (path && !places.has(path)) places.set(path, line);
    const c = text[at];
    if (c === "{") {
      at += 1;
      space();
      if (text[at] === "}") return void (at += 1);
      for (;;) {
        space();
        if (text[at] !== '"') throw new Error("expected a key");
        const keyLine = line;
        const key = string();
        const inner = join(path, key);
        if (!places.has(inner)) places.set(inner, keyLine);
        space();
        if (text[at] !== ":") throw new Error("expected ':'");
        at += 1;
        value(inner);
        space();
        if (text[at] === ",") at += 1;
        else if (text[at] === "}") return void (at += 1);
        else throw new Error("expected ',' or '}'");
      }
    }
    if (c === "[") {
      at += 1;
      space();
      if (text[at] === "]") return void (at += 1);
      for (let index = 0; ; index += 1) {
        value(`${path}[${index}]`);
        space();
        if (text[at] === ",") at += 1;
        else if (text[at] === "]") return void (at += 1);
        else throw new Error("expected ',' or ']'");
      }
    }
    if (c === '"') return void string();
    const token = /^[^\s,\]}]+/.exec(text.slice(at));
    if (!token) throw new Error("expected a value");
    at += token[0].length;
  };
  value("");
  return places;
}

/** The place an error names ("steps[1].send_email.subject"), as the keys and indexes of its path. */
export function parts(loc) {
  return [...String(loc).matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

function pathOf(segments) {
  return segments.reduce((out, s) => (typeof s === "number" ? `${out}[${s}]` : join(out, s)), "");
}

/**
 * The line (1-based) of the text where an error of the API is: the "(line N, column M)" of a syntax error,
 * else the line of its place, or of the nearest enclosing place the text has; null when none is found.
 */
export function lineOf(text, error) {
  const syntax = /\(line (\d+)(?:, column \d+)?\)/.exec(error.message || "");
  if (syntax && !error.loc) return Number(syntax[1]);
  if (!error.loc) return null;
  let places;
  try {
    places = looksLikeJson(text) ? jsonPlaces(text) : yamlPlaces(text);
  } catch {
    places = yamlPlaces(text);
  }
  const segments = parts(String(error.loc).replace(/^body\./, ""));
  for (let n = segments.length; n > 0; n -= 1) {
    const found = places.get(pathOf(segments.slice(0, n)));
    if (found) return found;
  }
  return null;
}

// --- differences ----------------------------------------------------------------------------------------------

/**
 * The lines of b against a: [{kind: " " | "-" | "+", text, a, b}] (a and b: line numbers, 1-based), by the
 * longest common subsequence; null when the texts are too long to compare here.
 */
export function diffLines(aText, bText) {
  const a = aText.split("\n");
  const b = bText.split("\n");
  if (a.length * b.length > 4_000_000) return null;
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push({ kind: " ", text: a[i], a: i + 1, b: j + 1 });
      i += 1;
      j += 1;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push({ kind: "-", text: a[i], a: i + 1, b: null });
      i += 1;
    } else {
      out.push({ kind: "+", text: b[j], a: null, b: j + 1 });
      j += 1;
    }
  }
  return out;
}

/** The changed lines with `context` lines around them, in hunks: [[line, ...], ...]. */
export function hunks(lines, context = 3) {
  const keep = new Array(lines.length).fill(false);
  lines.forEach((line, index) => {
    if (line.kind === " ") return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k += 1) keep[k] = true;
  });
  const out = [];
  let current = null;
  lines.forEach((line, index) => {
    if (!keep[index]) {
      current = null;
      return;
    }
    if (!current) {
      current = [];
      out.push(current);
    }
    current.push(line);
  });
  return out;
}
