// The few Node APIs the CLI uses. Declared here rather than through @types/node, whose globals
// clash with the Workers types the rest of the project (and the typed client) is checked with.
declare const process: {
  argv: string[];
  env: Record<string, string | undefined>;
  exitCode: number | undefined;
  stdout: { write(s: string): boolean };
  stderr: { write(s: string): boolean };
};

declare module "node:util" {
  interface ParseArgsOption {
    type: "string" | "boolean";
    short?: string;
    default?: string | boolean;
  }
  export function parseArgs<O extends Record<string, ParseArgsOption>>(config: { args: string[]; allowPositionals: true; options: O }): {
    values: { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : string };
    positionals: string[];
  };
}
