/** Vite's `?raw` import: a file's text (used to check wrangler.toml against the code's constants). */
declare module "*?raw" {
  const text: string;
  export default text;
}
