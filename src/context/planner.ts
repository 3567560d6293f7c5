/**
 * Which units of a conversation to keep under a token budget, chosen so that the kept prompt
 * of one turn is a prefix of the next turn's (provider prompt caches keep hitting).
 *
 * Layout of a kept prompt: system and pinned messages wherever they are; the head (the first
 * messages of the conversation, up to `headShare` × budget, fixed once and for all); retained
 * units (older messages kept for their importance); then the tail, every message from the cut
 * to the newest. What is dropped lies between the head and the cut: compaction happens at the
 * end of the kept older history, never at its start, so the cached prefix (system, head,
 * retained units) survives even the turns that compact.
 *
 * The plan replays the conversation unit by unit, as if it had been growing turn by turn, and
 * compacts only when the running prompt would exceed the budget. A compaction moves the cut
 * forward until the prompt is down to `compactTo` × budget (hysteresis: the next turns only
 * append), keeping system and pinned units, the last user messages, and the most important of
 * the units it passes (up to `retainedShare` × budget). A dropped unit stays dropped, except
 * that a later message referring to it brings it back when there is room among the retained
 * units.
 *
 * Every decision depends only on the messages up to the point where it was taken, never on
 * messages after it. So calling the planner on the conversation of turn t + 1 repeats exactly
 * the decisions taken for turn t, and the kept messages of turn t + 1 begin with those of turn
 * t unless a compaction (or a recalled unit) happened in between. Compactions are rare: after
 * one, the prompt can grow by (1 − compactTo) × budget before the next.
 *
 * Cost: each unit enters the tail once, is passed by the cut once, and is sorted once as a
 * candidate; retained units sit in an indexed heap. O(n log n) in units plus the words read
 * for references.
 */
import { IndexedMinHeap } from './heap.js';
import type { ImportanceScorer } from './importance.js';
import type { Unit } from './messages.js';
import { MAX_PHRASE_WORDS, type TextFeatures } from './salience.js';

/**
 * A unit displaces retained units only when its importance per token is this much higher
 * (relative), so that near-ties do not swap retained units back and forth (each swap moves the
 * cached prefix).
 */
export const DISPLACEMENT_MARGIN = 0.1;

export interface PlanSettings {
  /** Tokens the kept messages (with reply priming) may use. */
  budget: number;
  /** Share of the budget a compaction shrinks the prompt to. */
  compactTo: number;
  /** Share of the budget that retained (important older) units may use. */
  retainedShare: number;
  /** Share of the budget the head (the first non-system messages) may use. */
  headShare: number;
  /** Minimum importance of a retained unit. */
  retainThreshold: number;
  /** The last N messages are always kept. */
  recentMessages: number;
  /** The last N user messages are always kept. */
  recentUserMessages: number;
  /** Tokens reserved for a summary once anything is dropped; 0 when not summarizing. */
  summaryReserve: number;
  /** Fixed tokens of every prompt (reply priming). */
  baseTokens: number;
}

const TAIL = 0;
const KEPT = 1;
const HELD = 2;
const RETAINED = 3;
const DROPPED = 4;
const CANDIDATE = 5;

export interface Plan {
  /** Whether each unit is kept. */
  readonly kept: Uint8Array;
  /** Units kept because they scored high enough, though older than the cut. */
  readonly retained: number[];
  /** Units ever dropped (a summary covers these), ascending. */
  readonly covered: number[];
  /** Units covered before the last compaction that dropped anything, ascending. */
  readonly previouslyCovered: number[];
  /** Tokens of the kept units plus base tokens (no summary). */
  readonly tokens: number;
  /** Tokens counted against the budget (kept + summary reserve when anything was dropped). */
  readonly charged: number;
  /** Whether the always-kept units alone exceed the budget. */
  readonly overflow: boolean;
  /** Compactions performed while replaying the conversation. */
  readonly compactions: number;
}

/** Plans which units to keep. `featuresOf(messageIndex)` gives the reference features. */
export function planContext(
  units: readonly Unit[],
  featuresOf: (messageIndex: number) => TextFeatures,
  scorer: ImportanceScorer,
  settings: PlanSettings,
): Plan {
  const count = units.length;
  const status = new Uint8Array(count);
  const isHead = new Uint8Array(count);
  const firstDrop = new Int32Array(count).fill(-1);
  const references = new Uint32Array(count);
  const lastCreditor = new Int32Array(count).fill(-1);
  const userOrdinal = new Int32Array(count).fill(-1);
  const userUnits: number[] = [];
  const owners = new Map<string, number>();
  const phraseStarts = new Set<string>();
  const retained = new IndexedMinHeap<number>();
  const released: number[] = [];
  const retainedCap = Math.floor(settings.retainedShare * settings.budget);
  const headCap = Math.floor(settings.headShare * settings.budget);
  const head: number[] = [];
  let headTokens = 0;
  let headOpen = headCap > 0;
  const target = Math.floor(settings.compactTo * settings.budget);

  let retainedTokens = 0;
  let fixed = settings.baseTokens;
  let tail = 0;
  let cut = 0;
  let newest = -1;
  let compactions = 0;
  let dropEvents = 0;
  let coveredThisEvent = false;
  let anyDropped = false;

  const unitAt = (index: number): Unit => units[index] as Unit;
  const reserve = (): number => (anyDropped ? settings.summaryReserve : 0);
  const total = (): number => fixed + tail + reserve();
  const scoreOf = (index: number): number =>
    scorer.score(unitAt(index), references[index] as number, newest);
  /**
   * Retained units are packed like a knapsack: by importance per token, so that one large tool
   * result does not take the room of several short messages that matter as much.
   */
  const densityOf = (index: number, score: number): number =>
    score / Math.max(1, unitAt(index).tokens);
  const isProtectedUser = (index: number): boolean => {
    const ordinal = userOrdinal[index] as number;
    return ordinal >= 0 && ordinal >= userUnits.length - settings.recentUserMessages;
  };
  const isRecent = (index: number): boolean =>
    unitAt(index).last > newest - settings.recentMessages;

  const drop = (index: number, event: number): void => {
    status[index] = DROPPED;
    if ((firstDrop[index] as number) < 0) {
      firstDrop[index] = event;
      coveredThisEvent = true;
    }
    anyDropped = true;
  };

  const retain = (index: number, density: number): void => {
    status[index] = RETAINED;
    retained.set(index, density, index);
    retainedTokens += unitAt(index).tokens;
    fixed += unitAt(index).tokens;
  };

  const release = (index: number): void => {
    retained.delete(index);
    retainedTokens -= unitAt(index).tokens;
    fixed -= unitAt(index).tokens;
  };

  /** Makes room for `index` among retained units, displacing less dense ones if allowed. */
  const admit = (index: number, density: number, event: number | undefined): boolean => {
    const need = unitAt(index).tokens;
    if (need > retainedCap) return false;
    if (retainedTokens + need <= retainedCap) {
      retain(index, density);
      return true;
    }
    if (event === undefined) return false;
    const displaced: number[] = [];
    const displacedKeys: number[] = [];
    let freed = 0;
    while (retainedTokens - freed + need > retainedCap) {
      const lowest = retained.peek();
      if (lowest === undefined) break;
      const key = retained.keyOf(lowest) as number;
      if (key * (1 + DISPLACEMENT_MARGIN) >= density) break;
      retained.pop();
      displaced.push(lowest);
      displacedKeys.push(key);
      freed += unitAt(lowest).tokens;
    }
    if (retainedTokens - freed + need > retainedCap) {
      displaced.forEach((lowest, position) => {
        retained.set(lowest, displacedKeys[position] as number, lowest);
      });
      return false;
    }
    for (const lowest of displaced) {
      release(lowest);
      drop(lowest, event);
    }
    retain(index, density);
    return true;
  };

  /** Credits the units whose terms unit `index` mentions; recalls dropped ones if they fit. */
  const credit = (index: number): void => {
    const creditOwner = (owner: number | undefined): void => {
      if (owner === undefined || owner === index || lastCreditor[owner] === index) return;
      lastCreditor[owner] = index;
      references[owner] = (references[owner] as number) + 1;
      const state = status[owner];
      if (state === RETAINED) retained.set(owner, densityOf(owner, scoreOf(owner)), owner);
      else if (state === DROPPED) {
        const score = scoreOf(owner);
        if (score >= settings.retainThreshold) admit(owner, densityOf(owner, score), undefined);
      }
    };
    for (const message of unitAt(index).messages) {
      const words = featuresOf(message).words;
      for (let position = 0; position < words.length; position += 1) {
        const word = words[position] as string;
        creditOwner(owners.get(word));
        if (!phraseStarts.has(word)) continue;
        let phrase = word;
        const end = Math.min(words.length, position + MAX_PHRASE_WORDS);
        for (let next = position + 1; next < end; next += 1) {
          phrase = `${phrase} ${words[next]}`;
          creditOwner(owners.get(phrase));
        }
      }
    }
  };

  const register = (index: number): void => {
    for (const message of unitAt(index).messages) {
      for (const term of featuresOf(message).salient) {
        if (owners.has(term)) continue;
        owners.set(term, index);
        const space = term.indexOf(' ');
        if (space > 0) phraseStarts.add(term.slice(0, space));
      }
    }
  };

  /** Decides retained-or-dropped for candidates: important enough ones, densest first. */
  const select = (candidates: readonly number[], event: number): void => {
    const eligible: { index: number; density: number }[] = [];
    for (const index of candidates) {
      const score = scoreOf(index);
      if (score >= settings.retainThreshold)
        eligible.push({ index, density: densityOf(index, score) });
      else drop(index, event);
    }
    eligible.sort((a, b) => b.density - a.density || a.index - b.index);
    for (const { index, density } of eligible) {
      if (!admit(index, density, event)) drop(index, event);
    }
  };

  const compact = (): void => {
    compactions += 1;
    const event = dropEvents;
    coveredThisEvent = false;
    // While compacting, count the summary reserve as if something will be dropped.
    const over = (limit: number): boolean => fixed + tail + settings.summaryReserve > limit;
    let candidates: number[] = [];
    for (const index of released.splice(0)) {
      if (status[index] !== HELD) continue;
      status[index] = CANDIDATE;
      fixed -= unitAt(index).tokens;
      candidates.push(index);
    }
    for (;;) {
      while (cut < count && status[cut] === TAIL && over(target) && !isRecent(cut)) {
        const index = cut;
        const unit = unitAt(index);
        cut += 1;
        tail -= unit.tokens;
        if (unit.system || unit.pinned || isHead[index] === 1) {
          status[index] = KEPT;
          fixed += unit.tokens;
        } else if (isProtectedUser(index)) {
          status[index] = HELD;
          fixed += unit.tokens;
        } else {
          status[index] = CANDIDATE;
          candidates.push(index);
        }
      }
      if (candidates.length === 0) break;
      select(candidates, event);
      candidates = [];
      if (!over(target)) break;
    }
    // Retained units, then the head (newest first), are optional: give them up before
    // exceeding the budget.
    while (over(settings.budget) && retained.size > 0) {
      const lowest = retained.peek() as number;
      release(lowest);
      drop(lowest, event);
    }
    while (over(settings.budget) && head.length > 0) {
      const newestHead = head[head.length - 1] as number;
      if (status[newestHead] !== KEPT) break;
      head.pop();
      isHead[newestHead] = 0;
      if (isProtectedUser(newestHead)) {
        status[newestHead] = HELD;
        continue;
      }
      fixed -= unitAt(newestHead).tokens;
      drop(newestHead, event);
    }
    if (coveredThisEvent) dropEvents += 1;
  };

  for (let index = 0; index < count; index += 1) {
    const unit = unitAt(index);
    newest = Math.max(newest, unit.last);
    tail += unit.tokens;
    if (headOpen && !unit.system && !unit.pinned) {
      if (headTokens + unit.tokens <= headCap) {
        isHead[index] = 1;
        head.push(index);
        headTokens += unit.tokens;
      } else headOpen = false;
    }
    if (unit.user) {
      userOrdinal[index] = userUnits.length;
      userUnits.push(index);
      const unprotected = userUnits[userUnits.length - 1 - settings.recentUserMessages];
      if (unprotected !== undefined && status[unprotected] === HELD) released.push(unprotected);
    }
    credit(index);
    register(index);
    if (total() > settings.budget) compact();
  }

  const kept = new Uint8Array(count);
  const retainedUnits: number[] = [];
  const covered: number[] = [];
  const previouslyCovered: number[] = [];
  const lastEvent = dropEvents - 1;
  for (let index = 0; index < count; index += 1) {
    const state = status[index];
    if (state !== DROPPED) kept[index] = 1;
    if (state === RETAINED) retainedUnits.push(index);
    const dropped = firstDrop[index] as number;
    if (dropped >= 0) {
      covered.push(index);
      if (dropped < lastEvent) previouslyCovered.push(index);
    }
  }
  // `fixed` already holds base tokens, kept-before-cut and retained units; the tail is kept.
  const tokens = fixed + tail;
  return {
    kept,
    retained: retainedUnits,
    covered,
    previouslyCovered,
    tokens,
    charged: total(),
    overflow: total() > settings.budget,
    compactions,
  };
}
