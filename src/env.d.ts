// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
declare namespace Cloudflare {
  interface Env {
    /** Set with `wrangler secret put API_TOKEN`; when set, the API requires `Authorization: Bearer`. */
    API_TOKEN?: string;
    /** Set with `wrangler secret put WEBHOOK_SECRET`; signs completion webhooks (SeedCore-Signature). */
    WEBHOOK_SECRET?: string;
    /** Optional JSON (see README "Configuration"); a Worker that uses the package need not set it. */
    ORGANISM_CONFIG?: string;
  }
}
