import { z } from "zod";
import type { TaskInfo } from "../define-task";

/**
 * params.query as the query-style built-ins read it: a string when given; anything else is
 * ignored (as the handlers always did), so the task's description is used instead.
 */
export const queryParam = z.string().optional().catch(undefined).describe("the text to work on; default: the task's description");

/** The text a query-style task works on: params.query, else the task's description. */
export function queryText(params: { query?: string | undefined }, task: Pick<TaskInfo, "description">): string {
  const q = params.query;
  if (typeof q === "string" && q.trim() !== "") return q;
  return task.description ?? "";
}
