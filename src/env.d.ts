// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
declare namespace Cloudflare {
  interface Env {
    /** Set with `wrangler secret put API_TOKEN`; when set, the API requires `Authorization: Bearer`. */
    API_TOKEN?: string;
    /** Set with `wrangler secret put WORKER_TOKENS`: pull workers' tokens and their types, JSON `{"tok": ["type", …] | ["*"]}`. */
    WORKER_TOKENS?: string;
    /** Set with `wrangler secret put WEBHOOK_SECRET`; signs completion webhooks (SeedCore-Signature). */
    WEBHOOK_SECRET?: string;
    /** Optional JSON (see README "Configuration"); a Worker that uses the package need not set it. */
    ORGANISM_CONFIG?: string;
    /** Optional JSON: task type → executor ({"kind":"http","url":…} or {"kind":"service","binding":…,"method"?:…}). */
    TASK_EXECUTORS?: string;
    /** Optional "true"/"false": http executors may post to loopback hosts; unset follows WEBHOOK_ALLOW_LOOPBACK. */
    EXECUTOR_ALLOW_LOOPBACK?: string;
    /**
     * Optional Workers AI binding (`[ai] binding = "AI"`, not in wrangler.toml: locally it needs a
     * Cloudflare login). With COGNITIVE_MODEL set and no COGNITIVE_URL, escalation plans come from it.
     */
    AI?: Ai;
  }
}
