import { z } from "zod";
import { defineTask } from "../define-task";
import { queryParam, queryText } from "./query-text";

/** Deterministic text statistics: the cognitive organ's stand-in for an LLM analysis. */
export const analyze = defineTask({
  type: "analyze",
  opens_connections: false,
  description: "Counts characters, words and numbers in params.data (else params.query or the description)",
  params: z.looseObject({
    data: z.unknown().optional().describe("the text to analyze (any other JSON value is analyzed as its JSON text)"),
    query: queryParam,
  }),
  run(p, ctx) {
    const data = p.data;
    const text = typeof data === "string" ? data : data === undefined ? queryText(p, ctx.task) : JSON.stringify(data);
    const words = text.split(/\s+/).filter((w) => w !== "");
    const numbers = (text.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
    const sum = numbers.reduce((a, b) => a + b, 0);
    return {
      characters: text.length,
      words: words.length,
      numbers: numbers.length,
      numbers_sum: sum,
      numbers_mean: numbers.length ? sum / numbers.length : null,
      summary: words.slice(0, 12).join(" "),
    };
  },
});
