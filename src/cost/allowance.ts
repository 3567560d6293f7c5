import { randomUUID } from 'node:crypto';
import type { BudgetSlot, BudgetTotals, RedisBudgetStore, SettleOutcome } from './budget-store.js';

/** This process's lease on one budget, as it keeps it. */
interface Lease {
  /** Leased and not promised to a call in flight, nano-dollars. */
  available: number;
  /** What this process believes its lease in Redis holds. */
  leased: number;
  /** Spent by settled calls, not yet written to Redis. */
  pending: number;
  /**
   * Spend sent to Redis and not yet acknowledged. Spend goes over the settlement connection,
   * grants over the other: a grant's view of the lease may already include a spend whose reply
   * this process has not read.
   */
  spending: number;
  /** When the lease in Redis expires unless renewed, epoch ms. */
  expiresAt: number;
  /** The grant under way, which later callers wait for. */
  growing: Promise<void> | undefined;
  /** The batched spend write due shortly, shared by the settlements that wait for it. */
  scheduled: Promise<{ totals: BudgetTotals; crossed: number[] } | undefined> | undefined;
}

/** Settlements within this window share one spend write per budget. */
const FLUSH_DELAY_MS = 5;

export type TakeOutcome =
  /** `totals`: the latest each budget's Redis state was seen at (undefined when never yet). */
  | { readonly admitted: true; readonly totals: readonly (BudgetTotals | undefined)[] }
  | { readonly admitted: false; readonly index: number; readonly totals: BudgetTotals };

/**
 * Leased allowances: instead of a Redis round trip per call, each process leases a slice of
 * every budget it uses (a reservation under its own id, with the usual expiry) and admits
 * calls locally against it; it grows the lease when a call needs more, renews it while it is
 * in use, turns settled costs into spend in Redis (off the request path), and gives the rest
 * back on close.
 *
 * The invariant holds: every lease is a reservation counted by every process, granted
 * atomically only while spend plus reservations is under the cutoff, and never more than the
 * room left except for the one call that needs it. A process that dies leaves its lease to
 * expire. The price: a budget's `reserved` includes leased allowances not yet used, and near
 * the limit a process may be refused while another holds an unused slice (at most one slice
 * per process, `sliceShare` of the limit).
 */
export class Allowances {
  readonly #store: RedisBudgetStore;
  readonly #leaseId = `lease:${randomUUID()}`;
  readonly #ttlMs: number;
  readonly #sliceShare: number;
  readonly #leases = new Map<string, Lease>();
  readonly #latest = new Map<string, BudgetTotals>();
  #closed = false;

  constructor(store: RedisBudgetStore, ttlMs: number, sliceShare = 0.01) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#sliceShare = sliceShare;
  }

  #lease(slot: BudgetSlot): Lease {
    let lease = this.#leases.get(slot.id);
    if (lease === undefined) {
      lease = {
        available: 0,
        leased: 0,
        pending: 0,
        spending: 0,
        expiresAt: 0,
        growing: undefined,
        scheduled: undefined,
      };
      this.#leases.set(slot.id, lease);
    }
    return lease;
  }

  /** Takes `amount` from every slot's allowance, growing a lease where it falls short. */
  async take(slots: readonly BudgetSlot[], amount: number, now: number): Promise<TakeOutcome> {
    for (let index = 0; index < slots.length; index++) {
      const slot = slots[index] as BudgetSlot;
      const refused = await this.#ensure(slot, amount, now);
      if (refused !== undefined) return { admitted: false, index, totals: refused };
    }
    const totals = slots.map((slot) => this.#latest.get(slot.id));
    // Every allowance covers the call: take from all at once (no await in between).
    for (const slot of slots) {
      const lease = this.#lease(slot);
      if (lease.available < amount) return this.take(slots, amount, now);
    }
    for (const slot of slots) this.#lease(slot).available -= amount;
    return { admitted: true, totals };
  }

  /** Makes `amount` available in the slot's lease; the budget's totals when it has no room. */
  async #ensure(slot: BudgetSlot, amount: number, now: number): Promise<BudgetTotals | undefined> {
    const lease = this.#lease(slot);
    for (;;) {
      const renewDue = lease.expiresAt - now < this.#ttlMs / 2;
      // Spend at the cutoff (as last seen) sends the call to Redis, which refuses it.
      const spentOut = slot.cutoff >= 0 && (this.#latest.get(slot.id)?.spent ?? 0) >= slot.cutoff;
      if (lease.available >= amount && !renewDue && !spentOut) return undefined;
      if (spentOut && lease.available > 0 && lease.growing === undefined) {
        lease.growing = this.#giveBack(slot, lease.available).finally(() => {
          lease.growing = undefined;
        });
      }
      if (lease.growing !== undefined) {
        await lease.growing;
        continue;
      }
      let refused: BudgetTotals | undefined;
      lease.growing = (async () => {
        const short = Math.max(0, amount - lease.available);
        const slice = Math.max(amount, Math.ceil(slot.limit * this.#sliceShare));
        const want = short > 0 ? Math.max(slice, short) : Math.max(0, slice - lease.available);
        const expiresAt = now + this.#ttlMs;
        // The unused allowance is read when the request is sent: calls may take from it meanwhile.
        const ask = () =>
          this.#store.grantLease(slot, this.#leaseId, want, short, now, expiresAt, lease.available);
        let outcome = await ask();
        if (!outcome.granted && lease.pending > 0) {
          // Unwritten spend hides nothing from the limit (the lease covered it), but the
          // refusal should carry the true spend: write it, then ask once more.
          await this.#flush(slot, now);
          outcome = await ask();
        }
        this.#latest.set(slot.id, outcome.totals);
        // Redis holds at least what is leased less the spend still in flight, unless the lease
        // expired there (this process was idle past its expiry): what it held is gone, and so is
        // the allowance drawn on it.
        if (outcome.held < lease.leased - lease.spending) {
          const lost = lease.leased - lease.spending - outcome.held;
          lease.available = Math.max(0, lease.available - lost);
          // The spend in flight subtracts what it took when its reply arrives. Whether it took
          // from the old lease or the new grant cannot be told from here; counting it as still
          // held errs towards refusing, never towards admitting what Redis does not hold.
          lease.leased = outcome.held + lease.spending;
        }
        if (!outcome.granted) {
          refused = outcome.totals;
          return;
        }
        lease.leased += outcome.grant;
        lease.available += outcome.grant;
        lease.expiresAt = expiresAt;
      })().finally(() => {
        lease.growing = undefined;
      });
      await lease.growing;
      if (refused !== undefined) return refused;
      if (lease.available >= amount) return undefined;
      // Granted less than needed (another call took it meanwhile): go round again.
    }
  }

  /**
   * Settles a call: what it did not spend goes back to the allowance, what it spent is
   * written to Redis as spend (taken out of the lease).
   */
  async give(
    slots: readonly BudgetSlot[],
    reserved: number,
    actual: number,
    now: number,
  ): Promise<SettleOutcome> {
    for (const slot of slots) {
      const lease = this.#lease(slot);
      lease.available += reserved - actual;
      lease.pending += actual;
    }
    const totals: BudgetTotals[] = [];
    const crossed: number[][] = [];
    for (const slot of slots) {
      const result = await this.#flushSoon(slot, now);
      totals.push(result?.totals ?? this.#latest.get(slot.id) ?? { spent: 0, reserved: 0 });
      // The settlements sharing a write share its crossings: the first to wake reports them.
      crossed.push(result?.crossed.splice(0) ?? []);
    }
    return { totals, crossed };
  }

  /** The slot's pending spend written a few milliseconds from now, in one call for all. */
  #flushSoon(
    slot: BudgetSlot,
    now: number,
  ): Promise<{ totals: BudgetTotals; crossed: number[] } | undefined> {
    const lease = this.#lease(slot);
    // The timer holds the event loop (for 5 ms): a script that ends without close() must
    // not exit with settled spend that was never written.
    lease.scheduled ??= new Promise((resolve, reject) => {
      setTimeout(() => {
        lease.scheduled = undefined;
        if (this.#closed) return resolve(undefined);
        this.#flush(slot, now).then(resolve, reject);
      }, FLUSH_DELAY_MS);
    });
    return lease.scheduled;
  }

  /** Writes the slot's pending spend; concurrent callers share one write at a time. */
  async #flush(
    slot: BudgetSlot,
    now: number,
  ): Promise<{ totals: BudgetTotals; crossed: number[] } | undefined> {
    const lease = this.#lease(slot);
    let last: { totals: BudgetTotals; crossed: number[] } | undefined;
    while (lease.pending > 0) {
      const amount = lease.pending;
      lease.pending = 0;
      lease.spending += amount;
      try {
        const result = await this.#store.spendLease(slot, this.#leaseId, amount, now);
        lease.spending -= amount;
        lease.leased = Math.max(0, lease.leased - result.taken);
        this.#latest.set(slot.id, result.totals);
        // Past the cutoff (a call cost more than its estimate), unused allowance goes back so
        // that the budget's reservations reflect calls, not slices.
        const excess = result.totals.spent + result.totals.reserved - slot.cutoff;
        if (slot.cutoff >= 0 && excess > 0 && lease.available > 0) {
          await this.#giveBack(slot, Math.min(lease.available, excess));
        }
        last = { totals: result.totals, crossed: [...(last?.crossed ?? []), ...result.crossed] };
      } catch (error) {
        lease.spending -= amount;
        lease.pending += amount;
        throw error;
      }
    }
    return last;
  }

  /** Gives `amount` of the slot's unused allowance back to the budget. */
  async #giveBack(slot: BudgetSlot, amount: number): Promise<void> {
    const lease = this.#lease(slot);
    const back = Math.min(amount, lease.available);
    if (back <= 0) return;
    lease.available -= back;
    lease.leased = Math.max(0, lease.leased - back);
    await this.#store.releaseLease(slot, this.#leaseId, back);
  }

  /** This process's leased allowance on a budget not yet promised to a call. */
  unused(slotId: string): number {
    return this.#leases.get(slotId)?.available ?? 0;
  }

  /** Writes every pending spend (before reading totals). */
  async flushAll(now: number, slots: readonly BudgetSlot[]): Promise<void> {
    for (const slot of slots) if (this.#lease(slot).pending > 0) await this.#flush(slot, now);
  }

  /** Writes pending spend and gives every unused allowance back. */
  async release(now: number, slots: readonly BudgetSlot[]): Promise<void> {
    this.#closed = true;
    for (const slot of slots) {
      const lease = this.#leases.get(slot.id);
      if (lease === undefined) continue;
      await this.#flush(slot, now);
      if (lease.available > 0) await this.#store.releaseLease(slot, this.#leaseId, lease.available);
      lease.leased = Math.max(0, lease.leased - lease.available);
      lease.available = 0;
    }
  }
}
