import { createRouter } from "../lib/router";

/** /organism/* and /coordinator/health (DESIGN §7). */
export const organismRoutes = createRouter();
