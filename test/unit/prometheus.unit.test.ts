import { describe, expect, it } from "vitest";
import { bucketize, formatMetrics, parseMetrics, sampleValue, type MetricFamily } from "../../src/lib/prometheus";

describe("formatMetrics", () => {
  it("writes HELP and TYPE before the samples of each family, labels quoted", () => {
    const text = formatMetrics([
      { name: "seedcore_tasks", help: "Tasks by status.", type: "gauge", samples: [{ labels: { status: "queued" }, value: 3 }, { labels: { status: "running" }, value: 0 }] },
      { name: "seedcore_tasks_completed_total", help: "Completed.", type: "counter", samples: [{ value: 12 }] },
    ]);
    expect(text).toBe(
      [
        "# HELP seedcore_tasks Tasks by status.",
        "# TYPE seedcore_tasks gauge",
        'seedcore_tasks{status="queued"} 3',
        'seedcore_tasks{status="running"} 0',
        "# HELP seedcore_tasks_completed_total Completed.",
        "# TYPE seedcore_tasks_completed_total counter",
        "seedcore_tasks_completed_total 12",
        "",
      ].join("\n"),
    );
  });

  it("writes histograms as sorted cumulative buckets, +Inf, _sum and _count", () => {
    const text = formatMetrics([
      { name: "x_seconds", help: "h", type: "histogram", histograms: [{ buckets: [{ le: 1, count: 2 }, { le: 0.5, count: 1 }], sum: 1.75, count: 3 }] },
    ]);
    expect(text.split("\n").slice(2, 7)).toEqual([
      'x_seconds_bucket{le="0.5"} 1',
      'x_seconds_bucket{le="1"} 2',
      'x_seconds_bucket{le="+Inf"} 3',
      "x_seconds_sum 1.75",
      "x_seconds_count 3",
    ]);
  });

  it("escapes label values and help text", () => {
    const text = formatMetrics([{ name: "m", help: "a\\b\nc", type: "gauge", samples: [{ labels: { v: 'say "hi"\\\n' }, value: 1 }] }]);
    expect(text).toContain("# HELP m a\\\\b\\nc");
    expect(text).toContain('m{v="say \\"hi\\"\\\\\\n"} 1');
    expect(parseMetrics(text).samples[0]?.labels["v"]).toBe('say "hi"\\\n');
    const literal = formatMetrics([{ name: "m", help: "h", type: "gauge", samples: [{ labels: { v: "a\\nb" }, value: 1 }] }]);
    expect(parseMetrics(literal).samples[0]?.labels["v"]).toBe("a\\nb");
  });

  it("renders special values", () => {
    const text = formatMetrics([{ name: "m", help: "h", type: "gauge", samples: [{ labels: { a: "1" }, value: NaN }, { labels: { a: "2" }, value: Infinity }] }]);
    expect(text).toContain('m{a="1"} NaN');
    expect(text).toContain('m{a="2"} +Inf');
  });

  it("refuses invalid or duplicate names", () => {
    expect(() => formatMetrics([{ name: "bad-name", help: "h", type: "gauge", samples: [] }])).toThrow(/invalid metric name/);
    expect(() => formatMetrics([{ name: "m", help: "h", type: "gauge", samples: [{ labels: { "bad-label": "x" }, value: 1 }] }])).toThrow(/invalid label/);
    const f: MetricFamily = { name: "m", help: "h", type: "gauge", samples: [] };
    expect(() => formatMetrics([f, f])).toThrow(/twice/);
  });
});

describe("parseMetrics", () => {
  it("reads back what formatMetrics wrote", () => {
    const families: MetricFamily[] = [
      { name: "a_total", help: "A.", type: "counter", samples: [{ value: 5 }] },
      { name: "b", help: "B.", type: "gauge", samples: [{ labels: { k: "x", j: "y" }, value: 0.25 }] },
      { name: "h", help: "H.", type: "histogram", histograms: [{ ...bucketize([1, 10], [0.5, 3, 20]) }] },
    ];
    const parsed = parseMetrics(formatMetrics(families));
    expect(parsed.type.get("a_total")).toBe("counter");
    expect(parsed.help.get("b")).toBe("B.");
    expect(sampleValue(parsed, "a_total")).toBe(5);
    expect(sampleValue(parsed, "b", { k: "x" })).toBe(0.25);
    expect(sampleValue(parsed, "h_bucket", { le: "1" })).toBe(1);
    expect(sampleValue(parsed, "h_bucket", { le: "10" })).toBe(2);
    expect(sampleValue(parsed, "h_bucket", { le: "+Inf" })).toBe(3);
    expect(sampleValue(parsed, "h_sum")).toBe(23.5);
    expect(sampleValue(parsed, "h_count")).toBe(3);
  });

  it("throws on a line that is not a sample", () => {
    expect(() => parseMetrics("# HELP m h\nm{oops 1 2 3\n")).toThrow(/unparseable/);
  });
});
