import { z } from "zod";

/** A JSON object in a wrangler [vars] string (empty or unset: `{}`), then checked by `schema`. */
export function jsonVar<T extends z.ZodType>(schema: T, message = "must be a JSON object") {
  return z
    .string()
    .default("{}")
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
    })
    .pipe(schema);
}
