import { replicaName, replicaOfAgent } from "../src/organism/replicas";
import { mergeAgents } from "./agent-merge";
import { errorMessage } from "../src/lib/error-message";
import {
  ackShipments, deleteAgent, exportAgent, importAgent, loadAgents, pendingShipments, shipAgent, type AgentExport, type OrganMeta, type Shipment,
} from "./agent-store";

/** The replica a shipment goes to: it answers false while it is on an older layout than the shipment. */
export type Receiver = (name: string) => { receive(source: string, shipments: Shipment[]): Promise<boolean> };

/**
 * Agents move between an organ's replicas as shipments: a replica that no longer owns an agent
 * (the layout changed, or a task it ran finished after the agent left) moves it into its outbox
 * in the same transaction, and the owner merges it in. An agent is thus never in two places
 * unmerged and never overwritten, whatever runs between the moves.
 */

/**
 * Ships every agent held here that another replica owns under `meta`, and drops those past the
 * organ's agent count. True when something was shipped.
 */
export function rehome(sql: SqlStorage, meta: OrganMeta): boolean {
  let shipped = false;
  for (const agent of loadAgents(sql)) {
    if (agent.idx >= meta.agent_count) deleteAgent(sql, agent.agent_id);
    else if (replicaOfAgent(agent.idx, meta.replicas) !== meta.replica) {
      shipAgent(sql, agent, replicaName(meta.organ_id, replicaOfAgent(agent.idx, meta.replicas)), meta.epoch);
      shipped = true;
    }
  }
  return shipped;
}

/** Takes in one agent, merged with the copy held here if there is one. */
export function mergeIn(sql: SqlStorage, incoming: AgentExport): void {
  const local = loadAgents(sql).find((a) => a.agent_id === incoming.agent.agent_id);
  importAgent(sql, local ? mergeAgents(exportAgent(sql, local), incoming) : incoming);
}

/**
 * Sends each destination its shipments, in order, and drops those it took. Resolves to the
 * destinations that did not take theirs, with the reason; those stay in the outbox.
 */
export async function sendShipments(sql: SqlStorage, source: string, peer: Receiver): Promise<string[]> {
  const failed: string[] = [];
  await Promise.all(
    [...pendingShipments(sql)].map(async ([dest, shipments]) => {
      try {
        if (await peer(dest).receive(source, shipments)) ackShipments(sql, dest, shipments[shipments.length - 1]!.seq);
        else failed.push(`${dest} is on an older layout`);
      } catch (err) {
        failed.push(`${dest}: ${errorMessage(err)}`);
      }
    }),
  );
  return failed;
}
