/**
 * Prometheus text exposition (format 0.0.4), pure: metric families in, text out.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Record<string, string>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** Cumulative buckets (`count` = observations ≤ `le`), as Prometheus wants them; +Inf is added. */
export interface HistogramValue {
  labels?: Labels;
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export type MetricFamily =
  | { name: string; help: string; type: "gauge" | "counter"; samples: Sample[] }
  | { name: string; help: string; type: "histogram"; histograms: HistogramValue[] };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  for (const [k] of entries) if (!LABEL.test(k)) throw new Error(`invalid label name '${k}'`);
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

function sampleLine(name: string, labels: Labels | undefined, value: number): string {
  return `${name}${formatLabels(labels)} ${formatValue(value)}`;
}

function histogramLines(name: string, h: HistogramValue): string[] {
  const buckets = [...h.buckets].sort((a, b) => a.le - b.le);
  const lines = buckets.map((b) => sampleLine(`${name}_bucket`, { ...h.labels, le: formatValue(b.le) }, b.count));
  lines.push(sampleLine(`${name}_bucket`, { ...h.labels, le: "+Inf" }, h.count));
  lines.push(sampleLine(`${name}_sum`, h.labels, h.sum));
  lines.push(sampleLine(`${name}_count`, h.labels, h.count));
  return lines;
}

/** The exposition text of `families`, in order; a family with no samples still gets HELP and TYPE. */
export function formatMetrics(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`invalid metric name '${f.name}'`);
    if (seen.has(f.name)) throw new Error(`metric '${f.name}' appears twice`);
    seen.add(f.name);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === "histogram") for (const h of f.histograms) out.push(...histogramLines(f.name, h));
    else for (const s of f.samples) out.push(sampleLine(f.name, s.labels, s.value));
  }
  return `${out.join("\n")}\n`;
}

/** Cumulative bucket counts of raw observations, for callers that hold the values themselves. */
export function bucketize(bounds: readonly number[], values: readonly number[]): Omit<HistogramValue, "labels"> {
  const sorted = [...bounds].sort((a, b) => a - b);
  return {
    buckets: sorted.map((le) => ({ le, count: values.filter((v) => v <= le).length })),
    sum: values.reduce((a, b) => a + b, 0),
    count: values.length,
  };
}

export interface ParsedSample {
  name: string;
  labels: Labels;
  value: number;
}

export interface ParsedExposition {
  samples: ParsedSample[];
  help: Map<string, string>;
  type: Map<string, string>;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseNumber(s: string): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`invalid sample value '${s}'`);
  return n;
}

/** Parses the text format back (what a scraper sees); throws on a line it cannot read. */
export function parseMetrics(text: string): ParsedExposition {
  const result: ParsedExposition = { samples: [], help: new Map(), type: new Map() };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const meta = line.match(/^# (HELP|TYPE) (\S+) ?(.*)$/);
    if (meta) {
      (meta[1] === "HELP" ? result.help : result.type).set(meta[2] as string, meta[3] ?? "");
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = line.match(SAMPLE_LINE);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Labels = {};
    for (const pair of (m[2] ?? "").matchAll(LABEL_PAIR)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(n|"|\\)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    result.samples.push({ name: m[1] as string, labels, value: parseNumber(m[3] as string) });
  }
  return result;
}

/** The value of the one sample named `name` whose labels include `labels`, or undefined. */
export function sampleValue(parsed: ParsedExposition, name: string, labels: Labels = {}): number | undefined {
  return parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
