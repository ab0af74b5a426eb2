import { queryText, type Handler } from "./types";

/** Deterministic text statistics: the cognitive organ's stand-in for an LLM analysis. */
export const analyze: Handler = (task) => {
  const data = task.params["data"];
  const text = typeof data === "string" ? data : data === undefined ? queryText(task) : JSON.stringify(data);
  const words = text.split(/\s+/).filter((w) => w !== "");
  const numbers = (text.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
  const sum = numbers.reduce((a, b) => a + b, 0);
  return {
    success: true,
    result: {
      characters: text.length,
      words: words.length,
      numbers: numbers.length,
      numbers_sum: sum,
      numbers_mean: numbers.length ? sum / numbers.length : null,
      summary: words.slice(0, 12).join(" "),
    },
    // Longer inputs give the analysis more to work with; quality stays in 0.5..1.
    quality: Math.min(1, 0.5 + words.length / 100),
  };
};
