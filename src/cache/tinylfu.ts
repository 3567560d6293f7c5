import type { EvictionPolicy, PolicyBounds, PolicyFactory } from './policy.js';
import { NONE, SlotLinks, type SlotList, widen } from './slot-list.js';

/** 32-bit FNV-1a of a string, finished with murmur3's mixer for well-spread bits. */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

const MAX_COUNT = 15;
/**
 * Sketch blocks (16 four-bit counters, 8 bytes) per expected entry, and increments between
 * halvings per counter of a block row. Measured on the reference traces
 * (`npm run bench -- hit-ratio`): 2 blocks per entry with a memory of 40 × (about 4 × longer
 * than Caffeine's 10 × maximum size) give a mean hit ratio of 0.476, against 0.455 for
 * Caffeine's proportions and 0.477 for twice the memory: the longer memory lets looping and
 * scanning workloads keep a stable subset instead of admitting whatever was seen last.
 */
const BLOCKS_PER_ENTRY = 2;
const AGING_PERIOD = 40;

/**
 * A count-min sketch of 4-bit counters (capped at 15) that estimates how often each key was
 * seen recently. As in Caffeine, a key's four counters lie in one 64-bit block (two 32-bit
 * words; one counter per 16-bit row, chosen by different hash bits), so an update touches a
 * single cache line and 8 bytes. Conservative update (only the smallest counters grow)
 * keeps over-estimates low; halving every counter periodically ages old popularity out.
 */
export class FrequencySketch {
  /** Two 32-bit words per block: 16 counters of 4 bits. */
  private readonly table: Uint32Array;
  private readonly blockMask: number;
  private readonly sampleSize: number;
  private additions = 0;

  /** @param expectedEntries sizes the sketch (`BLOCKS_PER_ENTRY` blocks of 8 bytes each). */
  constructor(expectedEntries: number) {
    let blocks = 16;
    while (blocks < BLOCKS_PER_ENTRY * expectedEntries && blocks < 1 << 22) blocks *= 2;
    this.blockMask = blocks - 1;
    this.table = new Uint32Array(blocks * 2);
    this.sampleSize = AGING_PERIOD * blocks * 4;
  }

  frequency(hash: number): number {
    const table = this.table;
    let mixed = Math.imul(hash, 0x9e3779b1);
    mixed ^= mixed >>> 16;
    const word = (mixed & this.blockMask) << 1;
    const low = table[word] as number;
    const high = table[word + 1] as number;
    const c0 = (low >>> ((hash & 3) << 2)) & 15;
    const c1 = (low >>> (16 + (((hash >>> 8) & 3) << 2))) & 15;
    const c2 = (high >>> (((hash >>> 16) & 3) << 2)) & 15;
    const c3 = (high >>> (16 + (((hash >>> 24) & 3) << 2))) & 15;
    let minimum = c0 < c1 ? c0 : c1;
    if (c2 < minimum) minimum = c2;
    return c3 < minimum ? c3 : minimum;
  }

  increment(hash: number): void {
    const table = this.table;
    let mixed = Math.imul(hash, 0x9e3779b1);
    mixed ^= mixed >>> 16;
    const word = (mixed & this.blockMask) << 1;
    let low = table[word] as number;
    let high = table[word + 1] as number;
    const shift0 = (hash & 3) << 2;
    const shift1 = 16 + (((hash >>> 8) & 3) << 2);
    const shift2 = ((hash >>> 16) & 3) << 2;
    const shift3 = 16 + (((hash >>> 24) & 3) << 2);
    const c0 = (low >>> shift0) & 15;
    const c1 = (low >>> shift1) & 15;
    const c2 = (high >>> shift2) & 15;
    const c3 = (high >>> shift3) & 15;
    let minimum = c0 < c1 ? c0 : c1;
    if (c2 < minimum) minimum = c2;
    if (c3 < minimum) minimum = c3;
    if (minimum >= MAX_COUNT) return;
    if (c0 === minimum) low += 1 << shift0;
    if (c1 === minimum) low += 1 << shift1;
    if (c2 === minimum) high += 1 << shift2;
    if (c3 === minimum) high += 1 << shift3;
    table[word] = low;
    table[word + 1] = high;
    if (++this.additions >= this.sampleSize) this.age();
  }

  /** Halves every counter: yesterday's popularity counts half as much as today's. */
  private age(): void {
    const table = this.table;
    for (let index = 0; index < table.length; index++) {
      table[index] = ((table[index] as number) >>> 1) & 0x77777777;
    }
    this.additions = this.additions >>> 1;
  }

  clear(): void {
    this.table.fill(0);
    this.additions = 0;
  }
}

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;

export interface TinyLfuOptions {
  /**
   * Share of the capacity given to the admission window at start (the rest is the main,
   * frequency-guarded space). The hill climber moves it while the cache runs.
   * @default 0.01
   */
  window?: number;
  /**
   * Adapt the window size to the workload by hill climbing on the sampled hit ratio
   * (recency-heavy workloads get a larger window, frequency-heavy ones a smaller one).
   * @default true
   */
  adaptive?: boolean;
  /** Share of the main space reserved for entries hit at least twice. @default 0.8 */
  protectedShare?: number;
  /** Expected number of entries, for sizing the frequency sketch. @default maxEntries, or maxBytes / 512 */
  expectedEntries?: number;
}

const CLIMBER_STEP = 0.0625;
/** Probation entries examined for the cheapest victim when costs are known. */
const COST_SAMPLE = 4;
/** Cost weights are clamped to [1/16, 16] of the mean so one outlier cannot pin an entry forever. */
const MAX_COST_WEIGHT = 16;
/** Step growth while the hit ratio keeps improving, and the step's bounds (shares of capacity). */
const CLIMBER_ACCELERATION = 1.25;
const CLIMBER_MAX_STEP = 0.25;
const CLIMBER_MIN_STEP = 0.01;
/** Recently rejected candidates remembered, per expected entry. */
const GHOST_PER_ENTRY = 1;

/**
 * W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
 * Policy", 2017) with Caffeine's adaptive window: new entries enter a small LRU window;
 * an entry leaving the window is admitted to the main space (segmented LRU: probation and
 * protected) only if the frequency sketch says it is more popular than the main space's
 * victim. One-hit wonders and scans pass through the window without flushing the hot set.
 * A recently refused candidate wins near-ties; with costs known, frequency is weighted by
 * cost (GreedyDual-style). Weighted by bytes when the tier is byte-bounded. Every operation
 * is O(1); a hit allocates nothing (a refused admission records the key's hash).
 */
export class WTinyLfuPolicy implements EvictionPolicy {
  readonly name = 'tinylfu';
  private readonly links = new SlotLinks(0);
  private readonly window = this.links.list();
  private readonly probation = this.links.list();
  private readonly protected = this.links.list();
  private segment = new Uint8Array(0);
  /** Hit since the policy last looked at the entry (CLOCK-style reference bit). */
  private referenced = new Uint8Array(0);
  private hash = new Int32Array(0);
  private charge = new Float64Array(0);
  private cost = new Float64Array(0);
  /** Sum and count of the known (non-zero) costs of held entries: their mean is "cost 1". */
  private costSum = 0;
  private costCount = 0;
  private readonly sketch: FrequencySketch;
  private readonly byBytes: boolean;
  private readonly capacity: number;
  private readonly protectedShare: number;
  private readonly adaptive: boolean;
  private readonly minimumWindow: number;
  private windowMax: number;
  private mainMax: number;
  private protectedMax: number;
  private stepSize: number;
  private readonly sampleLength: number;
  private sampleHits = 0;
  private sampleMisses = 0;
  private previousHitRate = 0;
  private randomState = 0x2545f491;
  /**
   * Hashes of the candidates most recently refused admission (a ring, oldest overwritten),
   * with a count per hash for membership. A refused key that comes back soon and is about
   * as frequent as the victim (within 1) is admitted: recency breaks near-ties.
   */
  private readonly ghostRing: Int32Array;
  private ghostNext = 0;
  private ghostFilled = 0;
  private readonly ghosts = new Map<number, number>();

  constructor(bounds: PolicyBounds, options: TinyLfuOptions = {}) {
    this.byBytes = Number.isFinite(bounds.maxBytes);
    this.capacity = this.byBytes ? bounds.maxBytes : bounds.maxEntries;
    const expected =
      options.expectedEntries ??
      (Number.isFinite(bounds.maxEntries)
        ? bounds.maxEntries
        : Math.max(64, bounds.maxBytes / 512));
    this.sketch = new FrequencySketch(expected);
    this.sampleLength = Math.max(100, 10 * Math.min(expected, 1 << 22));
    this.protectedShare = options.protectedShare ?? 0.8;
    this.adaptive = options.adaptive ?? true;
    this.minimumWindow = Math.min(1, this.capacity);
    this.windowMax = Math.max(this.minimumWindow, this.capacity * (options.window ?? 0.01));
    this.mainMax = this.capacity - this.windowMax;
    this.protectedMax = this.mainMax * this.protectedShare;
    this.ghostRing = new Int32Array(
      Math.max(16, Math.ceil(GHOST_PER_ENTRY * Math.min(expected, 1 << 22))),
    );
    // Start by growing the window (Caffeine shrinks first): measured better on recency-heavy
    // traces (web07, web12, sprite). The climber reverses when the hit ratio stays flat, so a
    // workload with no hits (a loop) does not push the window to the whole cache.
    this.stepSize = CLIMBER_STEP * this.capacity;
  }

  grow(capacity: number): void {
    if (capacity <= this.segment.length) return;
    this.links.grow(capacity);
    this.segment = widen(this.segment, capacity);
    this.referenced = widen(this.referenced, capacity);
    this.hash = widen(this.hash, capacity);
    this.charge = widen(this.charge, capacity);
    this.cost = widen(this.cost, capacity);
  }

  add(slot: number, key: string, size: number, cost: number): void {
    const hash = hashKey(key);
    const charge = this.byBytes ? size : 1;
    this.hash[slot] = hash;
    this.charge[slot] = charge;
    this.setCost(slot, cost);
    this.segment[slot] = WINDOW;
    this.referenced[slot] = 0;
    this.sketch.increment(hash);
    this.window.pushHead(slot, charge);
    this.drainWindow();
  }

  /**
   * A hit only sets the entry's reference bit; the entry moves when the policy next looks at
   * it (lazy promotion, as in CLOCK and S3-FIFO), so a hit writes two bytes and no links.
   * The sketch counts the first hit of each reference period, and none on protected entries
   * (already proven popular). Measured against counting every hit and moving at once: the
   * mean hit ratio is 0.481 either way, and hits are about 1.7 × faster.
   */
  touch(slot: number): void {
    this.reference(slot);
    if (this.adaptive && ++this.sampleHits + this.sampleMisses >= this.sampleLength) this.climb();
  }

  miss(_key: string): void {
    // The sketch counts the key when it is added; counting the miss too would double it.
    if (this.adaptive && this.sampleHits + ++this.sampleMisses >= this.sampleLength) this.climb();
  }

  update(slot: number, size: number, cost: number): void {
    this.forgetCost(slot);
    this.setCost(slot, cost);
    const charge = this.byBytes ? size : 1;
    const previous = this.charge[slot] as number;
    if (charge !== previous) {
      this.listOf(slot).weight += charge - previous;
      this.charge[slot] = charge;
    }
    this.reference(slot);
  }

  private reference(slot: number): void {
    if (this.referenced[slot] === 1) return;
    this.referenced[slot] = 1;
    if (this.segment[slot] !== PROTECTED) this.sketch.increment(this.hash[slot] as number);
  }

  remove(slot: number): void {
    this.forgetCost(slot);
    this.listOf(slot).unlink(slot, this.charge[slot] as number);
  }

  victim(): number {
    // Entries that overflow the window compete with the main space's victim for admission.
    while (this.window.weight > this.windowMax && this.window.tail !== NONE) {
      const candidate = this.window.tail;
      if (this.secondChance(this.window, candidate)) continue;
      if (this.mainWeight() + (this.charge[candidate] as number) <= this.mainMax) {
        this.moveToProbation(candidate);
        continue;
      }
      const incumbent = this.mainVictim();
      if (incumbent === NONE) return candidate;
      if (this.admit(candidate, incumbent)) {
        this.moveToProbation(candidate);
        return incumbent;
      }
      return candidate;
    }
    const incumbent = this.mainVictim();
    return incumbent !== NONE ? incumbent : this.window.tail;
  }

  clear(): void {
    this.window.clear();
    this.probation.clear();
    this.protected.clear();
    this.sketch.clear();
    this.cost.fill(0);
    this.costSum = 0;
    this.costCount = 0;
    this.sampleHits = 0;
    this.sampleMisses = 0;
    this.ghostNext = 0;
    this.ghostFilled = 0;
    this.ghosts.clear();
  }

  /**
   * TinyLFU admission: the more frequent wins. A warm candidate that loses is let in at
   * random (1/128) so that an attacker cannot pin a hot victim in place.
   */
  private admit(candidate: number, incumbent: number): boolean {
    const candidateFrequency = this.sketch.frequency(this.hash[candidate] as number);
    const incumbentFrequency = this.sketch.frequency(this.hash[incumbent] as number);
    if (this.costCount === 0) {
      if (candidateFrequency > incumbentFrequency) return true;
      const hash = this.hash[candidate] as number;
      if (candidateFrequency + 1 >= incumbentFrequency && this.ghosts.has(hash)) return true;
      this.rememberRejected(hash);
    } else if (
      candidateFrequency * this.costWeight(candidate) >
      incumbentFrequency * this.costWeight(incumbent)
    ) {
      return true;
    }
    if (candidateFrequency <= 5) return false;
    this.randomState ^= this.randomState << 13;
    this.randomState ^= this.randomState >>> 17;
    this.randomState ^= this.randomState << 5;
    return (this.randomState & 127) === 0;
  }

  private rememberRejected(hash: number): void {
    const ring = this.ghostRing;
    if (this.ghostFilled === ring.length) {
      const oldest = ring[this.ghostNext] as number;
      const count = this.ghosts.get(oldest);
      if (count !== undefined) {
        if (count <= 1) this.ghosts.delete(oldest);
        else this.ghosts.set(oldest, count - 1);
      }
    } else {
      this.ghostFilled++;
    }
    ring[this.ghostNext] = hash;
    this.ghosts.set(hash, (this.ghosts.get(hash) ?? 0) + 1);
    if (++this.ghostNext === ring.length) this.ghostNext = 0;
  }

  /**
   * The main space's victim: the least recently used probation entry (else protected).
   * With costs known, GreedyDual-style: of the few least recently used probation entries,
   * the one whose frequency × cost is lowest, so expensive answers stay longer.
   */
  private mainVictim(): number {
    // Lazy promotion: probation entries hit since they were last looked at go to protected.
    for (;;) {
      const tail = this.probation.tail;
      if (tail === NONE || this.referenced[tail] === 0) break;
      this.referenced[tail] = 0;
      const charge = this.charge[tail] as number;
      this.probation.unlink(tail, charge);
      this.segment[tail] = PROTECTED;
      this.protected.pushHead(tail, charge);
      this.drainProtected();
    }
    let victim = this.probation.tail;
    if (victim === NONE) return this.protected.tail;
    if (this.costCount === 0) return victim;
    let lowest = this.sketch.frequency(this.hash[victim] as number) * this.costWeight(victim);
    let slot = victim;
    const prev = this.probation.prev;
    for (let examined = 1; examined < COST_SAMPLE; examined++) {
      slot = prev[slot] as number;
      if (slot === NONE) break;
      const score = this.sketch.frequency(this.hash[slot] as number) * this.costWeight(slot);
      if (score < lowest) {
        lowest = score;
        victim = slot;
      }
    }
    return victim;
  }

  /** An entry's cost relative to the mean known cost (1 when its cost is unknown). */
  private costWeight(slot: number): number {
    const cost = this.cost[slot] as number;
    if (cost <= 0) return 1;
    const weight = cost / (this.costSum / this.costCount);
    return Math.min(MAX_COST_WEIGHT, Math.max(1 / MAX_COST_WEIGHT, weight));
  }

  private setCost(slot: number, cost: number): void {
    const known = cost > 0 && Number.isFinite(cost) ? cost : 0;
    this.cost[slot] = known;
    if (known > 0) {
      this.costSum += known;
      this.costCount++;
    }
  }

  private forgetCost(slot: number): void {
    const cost = this.cost[slot] as number;
    if (cost > 0) {
      this.costSum -= cost;
      this.costCount--;
      this.cost[slot] = 0;
    }
  }

  private moveToProbation(slot: number): void {
    const charge = this.charge[slot] as number;
    this.window.unlink(slot, charge);
    this.segment[slot] = PROBATION;
    this.probation.pushHead(slot, charge);
  }

  /** While the cache is filling, window overflow moves to main without a contest. */
  private drainWindow(): void {
    while (this.window.weight > this.windowMax && this.window.tail !== NONE) {
      const candidate = this.window.tail;
      if (this.secondChance(this.window, candidate)) continue;
      if (this.mainWeight() + (this.charge[candidate] as number) > this.mainMax) return;
      this.moveToProbation(candidate);
    }
  }

  private drainProtected(): void {
    while (this.protected.weight > this.protectedMax && this.protected.tail !== NONE) {
      const demoted = this.protected.tail;
      if (this.secondChance(this.protected, demoted)) continue;
      const charge = this.charge[demoted] as number;
      this.protected.unlink(demoted, charge);
      this.segment[demoted] = PROBATION;
      this.probation.pushHead(demoted, charge);
    }
  }

  /** A referenced entry at a list's tail goes back to its head, unreferenced: true if it did. */
  private secondChance(list: SlotList, slot: number): boolean {
    if (this.referenced[slot] === 0) return false;
    this.referenced[slot] = 0;
    list.moveToHead(slot);
    return true;
  }

  private mainWeight(): number {
    return this.probation.weight + this.protected.weight;
  }

  private listOf(slot: number): SlotList {
    const segment = this.segment[slot];
    return segment === WINDOW
      ? this.window
      : segment === PROBATION
        ? this.probation
        : this.protected;
  }

  /**
   * Hill climbing on the hit ratio of the last sample: keep moving the window boundary in
   * the direction that helped, faster each time it helps again (so a workload that wants a
   * window of 100% gets there within a few samples), and turn back with half the step when
   * it stops helping. Caffeine's climber decays its step instead; accelerating measured better
   * on the reference traces (mean hit ratio 0.484 against 0.481).
   */
  private climb(): void {
    const requests = this.sampleHits + this.sampleMisses;
    const hitRate = this.sampleHits / requests;
    const change = hitRate - this.previousHitRate;
    // Improved: keep going and speed up. Not improved: turn back with half the step.
    const amount = change > 0 ? this.stepSize : -this.stepSize;
    const limit = CLIMBER_MAX_STEP * this.capacity;
    const floor = CLIMBER_MIN_STEP * this.capacity;
    const next = change > 0 ? amount * CLIMBER_ACCELERATION : amount / 2;
    this.stepSize = Math.sign(next || 1) * Math.min(limit, Math.max(floor, Math.abs(next)));
    this.previousHitRate = hitRate;
    this.sampleHits = 0;
    this.sampleMisses = 0;
    const window = Math.min(
      this.capacity - this.minimumWindow,
      Math.max(this.minimumWindow, this.windowMax + amount),
    );
    this.windowMax = window;
    this.mainMax = this.capacity - window;
    this.protectedMax = this.mainMax * this.protectedShare;
    this.drainProtected();
  }
}

export function tinyLfuPolicy(options: TinyLfuOptions = {}): PolicyFactory {
  return (bounds) => new WTinyLfuPolicy(bounds, options);
}
