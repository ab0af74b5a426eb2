/**
 * What a caller sees of a Durable Object class over RPC: every method answers a promise of what
 * the class returns. Cloudflare's generated stub types map results through `Rpc.Serializable`,
 * which turns any result holding `unknown` (task params and results are arbitrary JSON) into
 * `never` — and `never` type-checks anywhere. Our results are plain structured-cloneable data, so
 * the class's own signatures are the true ones; stubs are typed with this instead.
 */
export type Remote<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};
