import { OUTBOUND_CONNECTIONS } from "./platform-limits";

/** Slots one host may hold at once: the rest of OUTBOUND_CONNECTIONS stay free for other hosts. */
export const OUTBOUND_PER_HOST = 4;

interface Waiting {
  host: string;
  start: () => void;
}

/**
 * The outgoing requests of one invocation, at most `limit` at once: the platform would queue the
 * rest itself, but with their timers already running, so a slow wave times out the next one
 * before it is even sent. A request's timer belongs inside `run`, where it starts with the request.
 * One host holds at most `perHost` slots, so a slow receiver never holds them all while another
 * host's requests wait; a free slot goes to the waiting request whose host has the fewest in
 * flight (the oldest among equals).
 */
export class OutboundSlots {
  private readonly running = new Map<string, number>();
  private readonly waiting: Waiting[] = [];
  private total = 0;

  constructor(
    private readonly limit = OUTBOUND_CONNECTIONS,
    private readonly perHost = OUTBOUND_PER_HOST,
  ) {}

  run<T>(host: string, request: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        Promise.resolve()
          .then(request)
          .then(resolve, reject)
          .finally(() => this.release(host));
      };
      this.waiting.push({ host, start });
      this.grant();
    });
  }

  private inFlight(host: string): number {
    return this.running.get(host) ?? 0;
  }

  private release(host: string): void {
    this.total--;
    this.running.set(host, this.inFlight(host) - 1);
    this.grant();
  }

  private grant(): void {
    while (this.total < this.limit) {
      let next = -1;
      this.waiting.forEach((w, i) => {
        const load = this.inFlight(w.host);
        if (load < this.perHost && (next < 0 || load < this.inFlight((this.waiting[next] as Waiting).host))) next = i;
      });
      if (next < 0) return;
      const [job] = this.waiting.splice(next, 1) as [Waiting];
      this.total++;
      this.running.set(job.host, this.inFlight(job.host) + 1);
      job.start();
    }
  }
}
