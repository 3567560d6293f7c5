type Listener<Payload> = (payload: Payload) => void;

/**
 * A small typed event hub. Emitting an event nobody listens to costs one property read,
 * so hot paths can check `has()` before building a payload. A listener that throws is
 * isolated: it never breaks the operation that emitted the event.
 */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<Name extends keyof Events>(name: Name, listener: Listener<Events[Name]>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => {
      set.delete(listener as Listener<never>);
      if (set.size === 0) this.listeners.delete(name);
    };
  }

  has(name: keyof Events): boolean {
    return this.listeners.has(name);
  }

  emit<Name extends keyof Events>(name: Name, payload: Events[Name]): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as Listener<Events[Name]>)(payload);
      } catch {
        // A telemetry listener must never fail the cache operation that emitted the event.
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
