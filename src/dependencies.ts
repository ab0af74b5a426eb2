import { AppError } from "./errors";
import type { TaskInput } from "./schemas/task";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where a field of item `index` is, as a 400 names it: `tasks.3.depends_on` in a batch, `depends_on` alone. */
export const fieldOf = (batch: boolean, index: number, field: string) => (batch ? `tasks.${index}.${field}` : field);

function invalid(path: string, message: string): AppError {
  return new AppError("validation_failed", `${path}: ${message}`, { fields: [{ path, message }] });
}

export interface ResolvedParents {
  /** Per item, its parents as task ids (a ref replaced by that item's new id), or null. */
  parents: (string[] | null)[];
  /** Parents that must exist already (not items of this batch), to check in D1. */
  external: string[];
}

/** Finds a ref cycle (a → b → a), which would leave its items waiting forever. */
function findCycle(edges: number[][]): number[] | null {
  const state = new Array<number>(edges.length).fill(0); // 0 new, 1 on the path, 2 done
  const path: number[] = [];
  const visit = (i: number): number[] | null => {
    if (state[i] === 1) return [...path.slice(path.indexOf(i)), i];
    if (state[i] === 2) return null;
    state[i] = 1;
    path.push(i);
    for (const j of edges[i] ?? []) {
      const cycle = visit(j);
      if (cycle) return cycle;
    }
    path.pop();
    state[i] = 2;
    return null;
  };
  for (let i = 0; i < edges.length; i++) {
    const cycle = visit(i);
    if (cycle) return cycle;
  }
  return null;
}

/**
 * Checks the dependency fields of a submission and turns refs into the new ids of their items.
 * Refs exist only inside one batch; an item others depend on by ref may not carry an idempotency
 * key (a replay would return the earlier task while its dependents pointed at a new id).
 */
export function resolveParents(inputs: readonly TaskInput[], ids: readonly string[], batch: boolean): ResolvedParents {
  const byRef = new Map<string, number>();
  inputs.forEach((input, i) => {
    if (input.ref === undefined) return;
    if (!batch) throw invalid("ref", "refs name items of POST /tasks/batch; a single task needs none");
    if (byRef.has(input.ref)) throw invalid(fieldOf(batch, i, "ref"), `ref '${input.ref}' is given to two items`);
    byRef.set(input.ref, i);
  });
  const external = new Set<string>();
  const edges: number[][] = inputs.map(() => []);
  const parents = inputs.map((input, i) => {
    const deps = input.depends_on ?? [];
    if (input.on_parent_failure !== undefined && deps.length === 0) throw invalid(fieldOf(batch, i, "on_parent_failure"), "needs depends_on");
    if (deps.length === 0) return null;
    if (!input.run_immediately) throw invalid(fieldOf(batch, i, "run_immediately"), "a task with depends_on is queued by its parents; it cannot also wait for /run");
    if (Object.hasOwn(input.params, "parents")) throw invalid(fieldOf(batch, i, "params.parents"), "is reserved: a task with depends_on receives its parents' results there");
    return deps.map((dep, k) => {
      const path = fieldOf(batch, i, `depends_on.${k}`);
      if (UUID.test(dep)) {
        external.add(dep.toLowerCase());
        return dep.toLowerCase();
      }
      const j = byRef.get(dep);
      if (j === undefined) throw invalid(path, `no item of this batch has ref '${dep}'`);
      if (j === i) throw invalid(path, "a task cannot depend on itself");
      if (inputs[j]?.idempotency_key) throw invalid(fieldOf(batch, j, "idempotency_key"), `item '${dep}' is a parent by ref, so it cannot carry an idempotency key; depend on its id instead`);
      (edges[i] as number[]).push(j);
      return ids[j] as string;
    });
  });
  const cycle = findCycle(edges);
  if (cycle) throw invalid(fieldOf(batch, cycle[0] as number, "depends_on"), `refs form a cycle: ${cycle.map((i) => inputs[i]?.ref).join(" → ")}`);
  return { parents, external: [...external] };
}
