import type { Random } from '../shared/random.js';

/** FNV-1a offset basis: the starting state of {@link hashText}. */
export const HASH_START = 0x811c9dc5;

/**
 * 32-bit FNV-1a over a string's UTF-16 code units. Pass the previous result as `hash` to fold
 * several strings into one hash without concatenating them.
 */
export function hashText(text: string, hash: number = HASH_START): number {
  let state = hash >>> 0;
  for (let index = 0; index < text.length; index++) {
    state ^= text.charCodeAt(index);
    state = Math.imul(state, 0x01000193);
  }
  return state >>> 0;
}

/** Mixes a small integer into a hash, e.g. a choice index, so each index gets its own stream. */
export function mixHash(hash: number, value: number): number {
  let state = (hash ^ Math.imul(value + 1, 0x9e3779b1)) >>> 0;
  state = Math.imul(state ^ (state >>> 16), 0x85ebca6b);
  state = Math.imul(state ^ (state >>> 13), 0xc2b2ae35);
  return (state ^ (state >>> 16)) >>> 0;
}

/** An integer in [0, bound) drawn from `random`. */
export function randomBelow(random: Random, bound: number): number {
  return Math.floor(random() * bound);
}
