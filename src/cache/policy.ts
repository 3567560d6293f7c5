import { ConfigError } from '../shared/errors.js';

/**
 * The eviction policy is a pluggable piece of the in-process tier. The tier owns the
 * key → node map and the byte/entry accounting; the policy owns the order in which nodes
 * leave. Policies keep their bookkeeping in the fields of the node itself (intrusive
 * lists), so no operation allocates and every operation is O(1).
 */
export interface PolicyNode {
  readonly key: string;
  /** Weight of the entry in bytes (its serialized size), or 0 when the tier is bounded by count only. */
  size: number;
  /** Policy-owned: previous node in the policy's list. */
  prev: PolicyNode | undefined;
  /** Policy-owned: next node in the policy's list. */
  next: PolicyNode | undefined;
  /** Policy-owned: which of the policy's segments holds the node. */
  segment: number;
}

export interface PolicyBounds {
  /** Entry bound, or `Infinity`. */
  maxEntries: number;
  /** Byte bound, or `Infinity`. */
  maxBytes: number;
}

export interface EvictionPolicy<Node extends PolicyNode = PolicyNode> {
  readonly name: string;
  /** A node entered the tier. The tier then asks for victims while it is over a bound. */
  add(node: Node): void;
  /** A lookup found the node. */
  touch(node: Node): void;
  /** A lookup did not find `key` (frequency-aware policies count it). */
  miss(key: string): void;
  /** The node's value was replaced in place; its size may have changed. */
  update(node: Node): void;
  /** The node left the tier (delete, expiry or eviction). */
  remove(node: Node): void;
  /** The node to evict next; may be the node just added (admission refused). */
  victim(): Node | undefined;
  clear(): void;
}

export type PolicyFactory = <Node extends PolicyNode>(bounds: PolicyBounds) => EvictionPolicy<Node>;

/** Least recently used: a doubly linked list, most recent at the head. */
export class LruPolicy<Node extends PolicyNode> implements EvictionPolicy<Node> {
  readonly name = 'lru';
  private head: Node | undefined;
  private tail: Node | undefined;

  add(node: Node): void {
    node.prev = undefined;
    node.next = this.head;
    if (this.head !== undefined) this.head.prev = node;
    this.head = node;
    if (this.tail === undefined) this.tail = node;
  }

  touch(node: Node): void {
    if (this.head === node) return;
    this.unlink(node);
    this.add(node);
  }

  miss(_key: string): void {}

  update(node: Node): void {
    this.touch(node);
  }

  remove(node: Node): void {
    this.unlink(node);
    node.prev = undefined;
    node.next = undefined;
  }

  victim(): Node | undefined {
    return this.tail;
  }

  clear(): void {
    this.head = undefined;
    this.tail = undefined;
  }

  private unlink(node: Node): void {
    const { prev, next } = node;
    if (prev === undefined) this.head = next as Node | undefined;
    else prev.next = next;
    if (next === undefined) this.tail = prev as Node | undefined;
    else next.prev = prev;
  }
}

export const lruPolicy: PolicyFactory = <Node extends PolicyNode>() => new LruPolicy<Node>();

const POLICIES: Record<string, PolicyFactory> = { lru: lruPolicy };

/** Resolves a policy option (`'lru'` or a factory) to a factory. */
export function resolvePolicy(policy: string | PolicyFactory | undefined): PolicyFactory {
  if (typeof policy === 'function') return policy;
  const factory = POLICIES[policy ?? 'lru'];
  if (factory === undefined) {
    throw new ConfigError(
      `unknown eviction policy '${policy}'; expected one of: ${Object.keys(POLICIES).join(', ')}`,
    );
  }
  return factory;
}
