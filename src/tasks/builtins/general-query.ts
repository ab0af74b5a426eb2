import { z } from "zod";
import { defineTask } from "../define-task";
import { evaluateArithmetic, extractExpression } from "./arithmetic";
import { queryParam, queryText } from "./query-text";

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/**
 * Answers simple questions deterministically: arithmetic first (so "what is 2+2 today" computes),
 * then time, date, system status, else a generic acknowledgement. `answer` always holds the
 * answer itself (a number for arithmetic, an ISO string for time).
 */
export const generalQuery = defineTask({
  type: "general_query",
  opens_connections: false,
  description: "Answers arithmetic, time, date and status questions from params.query or the description",
  params: z.looseObject({ query: queryParam }),
  run(params, ctx) {
    const query = queryText(params, ctx.task);
    const lower = query.toLowerCase();
    const now = new Date(ctx.now());

    const expression = extractExpression(query);
    if (expression !== undefined) {
      const evaluated = evaluateArithmetic(expression);
      if (evaluated.ok) return { query_type: "arithmetic", query, expression, answer: evaluated.value };
    }
    if (/\btime\b|\bclock\b|\bnow\b/.test(lower)) {
      const iso = now.toISOString();
      return { query_type: "time", query, answer: iso, utc_time: iso, message: `The current UTC time is ${iso}` };
    }
    if (/\bdate\b|\btoday\b|\bday\b/.test(lower)) {
      const date = now.toISOString().slice(0, 10);
      return { query_type: "date", query, answer: date, weekday: WEEKDAYS[now.getUTCDay()] ?? "" };
    }
    if (/\bstatus\b|\bhealth\b|\bsystem\b/.test(lower)) {
      return { query_type: "system_status", query, answer: "all systems operational", checked_at: now.toISOString() };
    }
    return { query_type: "general", query, answer: `Received your query: "${query.slice(0, 200)}"` };
  },
});
