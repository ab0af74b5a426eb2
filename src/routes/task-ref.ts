import { AppError } from "../errors";
import { parseTaskRef } from "../lib/short-id";
import type { TaskRow } from "../db/schema";
import type { Db } from "../store/db";
import { findTask } from "../store/find-task";

/** Resolves `{id}` (full UUID or unique prefix) or throws the 400 / 404 / 409 of DESIGN §7. */
export async function resolveTask(db: Db, raw: string): Promise<TaskRow> {
  const parsed = parseTaskRef(raw);
  if (!parsed.ok) throw new AppError("bad_request", parsed.reason, { id: raw });
  const found = await findTask(db, parsed.ref);
  if (found.kind === "missing") throw new AppError("not_found", `no task matches '${raw}'`);
  if (found.kind === "ambiguous") {
    throw new AppError("ambiguous_id", "Ambiguous task ID prefix", { prefix: raw, candidates: found.candidates });
  }
  return found.row;
}
