import { evaluateArithmetic, extractExpression } from "../../src/tasks/builtins/arithmetic";
import { queryText, type Handler } from "./types";

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/**
 * Answers simple questions deterministically: arithmetic first (so "what is 2+2 today" computes),
 * then time, date, system status, else a generic acknowledgement. `result.answer` always holds
 * the answer itself (a number for arithmetic, an ISO string for time).
 */
export const generalQuery: Handler = (task, clock) => {
  const query = queryText(task);
  const lower = query.toLowerCase();
  const now = new Date(clock.now());

  const expression = extractExpression(query);
  if (expression !== undefined) {
    const evaluated = evaluateArithmetic(expression);
    if (evaluated.ok) {
      return ok({ query_type: "arithmetic", query, expression, answer: evaluated.value });
    }
  }
  if (/\btime\b|\bclock\b|\bnow\b/.test(lower)) {
    const iso = now.toISOString();
    return ok({ query_type: "time", query, answer: iso, utc_time: iso, message: `The current UTC time is ${iso}` });
  }
  if (/\bdate\b|\btoday\b|\bday\b/.test(lower)) {
    const date = now.toISOString().slice(0, 10);
    return ok({ query_type: "date", query, answer: date, weekday: WEEKDAYS[now.getUTCDay()] ?? "" });
  }
  if (/\bstatus\b|\bhealth\b|\bsystem\b/.test(lower)) {
    return ok({ query_type: "system_status", query, answer: "all systems operational", checked_at: now.toISOString() });
  }
  return ok({ query_type: "general", query, answer: `Received your query: "${query.slice(0, 200)}"` });
};

function ok(result: Record<string, unknown>) {
  return { success: true, result };
}
