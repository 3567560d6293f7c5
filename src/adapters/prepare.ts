import type { Sluice } from '../gateway/sluice.js';

const prepared = new WeakMap<Sluice, Promise<void>>();

/**
 * Runs the pipeline's start-up step once, before its first call through an adapter, as the
 * gateway does before it listens: budgets and rate limits wait (bounded) for their Redis
 * connection and restore the current windows' spend from the ledger. Without it, calls made
 * before Redis is connected are counted in this process's memory only, where other processes
 * never see them. A failure is thrown to the call and tried again by the next one.
 */
export function preparePipeline(sluice: Sluice): Promise<void> {
  let ready = prepared.get(sluice);
  if (ready === undefined) {
    ready = sluice.prepareToServe();
    prepared.set(sluice, ready);
    ready.catch(() => prepared.delete(sluice));
  }
  return ready;
}
