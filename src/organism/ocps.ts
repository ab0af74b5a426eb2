/**
 * OCPS valve: a one-sided CUSUM over drift scores. Small drift drains away (the 0.1 allowance);
 * sustained drift accumulates until it crosses the threshold, which escalates one task and resets.
 */
export interface OcpsState {
  S: number;
  fast: number;
  total: number;
  escalations: number;
}

export const OCPS_ALLOWANCE = 0.1;

export const initialOcps = (): OcpsState => ({ S: 0, fast: 0, total: 0, escalations: 0 });

export interface OcpsDecision {
  escalate: boolean;
  /** S after this task (0 after an escalation). */
  S: number;
  /** S before the reset, i.e. the value compared with the threshold. */
  S_raw: number;
}

/** Pure preview: what the valve would decide, without changing anything (get_routing_debug). */
export function previewOcps(state: OcpsState, drift: number, threshold: number): OcpsDecision {
  const safeDrift = Number.isFinite(drift) ? drift : 0;
  const S_raw = Math.max(0, state.S + safeDrift - OCPS_ALLOWANCE);
  const escalate = S_raw > threshold;
  return { escalate, S: escalate ? 0 : S_raw, S_raw };
}

/** Applies one task to the valve; returns the decision and the next state. */
export function stepOcps(state: OcpsState, drift: number, threshold: number): { decision: OcpsDecision; next: OcpsState } {
  const decision = previewOcps(state, drift, threshold);
  const next: OcpsState = {
    S: decision.S,
    total: state.total + 1,
    fast: state.fast + (decision.escalate ? 0 : 1),
    escalations: state.escalations + (decision.escalate ? 1 : 0),
  };
  return { decision, next };
}

export function pFast(state: OcpsState): number {
  return state.total === 0 ? 1 : state.fast / state.total;
}
