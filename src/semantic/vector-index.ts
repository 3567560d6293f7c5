import hnswlib from 'hnswlib-node';

/** The nearest stored vectors to a query, most similar first. */
export interface Neighbours {
  labels: number[];
  /** Cosine similarities (dot products of unit vectors), aligned with `labels`. */
  similarities: number[];
}

/**
 * A set of unit vectors under integer labels, searched by cosine similarity. Implementations:
 * `ExactIndex` (brute force) and `HnswIndex` (approximate, hnswlib).
 */
export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  readonly size: number;
  add(label: number, vector: Float32Array): void;
  /** Removes `label`; false when it was not there. */
  remove(label: number): boolean;
  search(query: Float32Array, count: number): Neighbours;
}

/**
 * Brute force over one contiguous Float32Array: a dot product with every row, keeping the
 * best `count`. Exact, no build cost, O(1) removal (the last row moves into the gap); faster
 * than HNSW for small sets (see `DEFAULT_HNSW_THRESHOLD`).
 */
export class ExactIndex implements VectorIndex {
  readonly kind = 'exact';
  private matrix: Float32Array;
  private rowLabels: number[] = [];
  private readonly rowOf = new Map<number, number>();

  constructor(
    readonly dimensions: number,
    initialCapacity = 64,
  ) {
    this.matrix = new Float32Array(dimensions * Math.max(1, initialCapacity));
  }

  get size(): number {
    return this.rowLabels.length;
  }

  add(label: number, vector: Float32Array): void {
    if (vector.length !== this.dimensions) throw dimensionError(vector.length, this.dimensions);
    const existing = this.rowOf.get(label);
    const row = existing ?? this.rowLabels.length;
    if (existing === undefined) {
      if ((row + 1) * this.dimensions > this.matrix.length) {
        const grown = new Float32Array(this.matrix.length * 2);
        grown.set(this.matrix);
        this.matrix = grown;
      }
      this.rowLabels.push(label);
      this.rowOf.set(label, row);
    }
    this.matrix.set(vector, row * this.dimensions);
  }

  remove(label: number): boolean {
    const row = this.rowOf.get(label);
    if (row === undefined) return false;
    const last = this.rowLabels.length - 1;
    if (row !== last) {
      const movedLabel = this.rowLabels[last] as number;
      this.matrix.copyWithin(
        row * this.dimensions,
        last * this.dimensions,
        (last + 1) * this.dimensions,
      );
      this.rowLabels[row] = movedLabel;
      this.rowOf.set(movedLabel, row);
    }
    this.rowLabels.pop();
    this.rowOf.delete(label);
    return true;
  }

  search(query: Float32Array, count: number): Neighbours {
    const rows = this.rowLabels.length;
    const keep = Math.min(count, rows);
    const bestRows: number[] = [];
    const bestScores: number[] = [];
    if (keep <= 0) return { labels: [], similarities: [] };
    const matrix = this.matrix;
    const dimensions = this.dimensions;
    let floor = Number.NEGATIVE_INFINITY;
    for (let row = 0; row < rows; row++) {
      const base = row * dimensions;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let index = 0;
      for (; index + 3 < dimensions; index += 4) {
        s0 += (matrix[base + index] as number) * (query[index] as number);
        s1 += (matrix[base + index + 1] as number) * (query[index + 1] as number);
        s2 += (matrix[base + index + 2] as number) * (query[index + 2] as number);
        s3 += (matrix[base + index + 3] as number) * (query[index + 3] as number);
      }
      for (; index < dimensions; index++) {
        s0 += (matrix[base + index] as number) * (query[index] as number);
      }
      const score = s0 + s1 + s2 + s3;
      if (bestScores.length === keep && score <= floor) continue;
      // Insertion into a short sorted list (count is small: a handful of candidates).
      let position = bestScores.length;
      while (position > 0 && (bestScores[position - 1] as number) < score) position--;
      bestScores.splice(position, 0, score);
      bestRows.splice(position, 0, row);
      if (bestScores.length > keep) {
        bestScores.pop();
        bestRows.pop();
      }
      if (bestScores.length === keep) floor = bestScores[keep - 1] as number;
    }
    return {
      labels: bestRows.map((row) => this.rowLabels[row] as number),
      similarities: bestScores,
    };
  }

  /** Every (label, vector) pair, for building another index. */
  *entries(): Generator<[number, Float32Array]> {
    for (let row = 0; row < this.rowLabels.length; row++) {
      const start = row * this.dimensions;
      yield [this.rowLabels[row] as number, this.matrix.subarray(start, start + this.dimensions)];
    }
  }
}

export interface HnswOptions {
  /** Graph degree (hnswlib `M`). @default 16 */
  m?: number;
  /** Build-time beam width. @default 100 */
  efConstruction?: number;
  /** Search-time beam width (raised to the number of neighbours asked for). @default 64 */
  efSearch?: number;
}

/**
 * Approximate nearest neighbours on hnswlib's HNSW graph (inner product on unit vectors).
 * Removal marks the label deleted (`markDelete`); later additions reuse deleted slots, and
 * the graph grows by doubling.
 */
export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  private readonly graph: hnswlib.HierarchicalNSW;
  private readonly live = new Set<number>();
  private deleted = 0;
  private capacity: number;
  private readonly efSearch: number;

  constructor(
    readonly dimensions: number,
    initialCapacity = 1_024,
    options: HnswOptions = {},
  ) {
    this.capacity = Math.max(16, initialCapacity);
    this.efSearch = options.efSearch ?? 64;
    this.graph = new hnswlib.HierarchicalNSW('ip', dimensions);
    this.graph.initIndex({
      maxElements: this.capacity,
      m: options.m ?? 16,
      efConstruction: options.efConstruction ?? 100,
      randomSeed: 100,
      allowReplaceDeleted: true,
    });
    this.graph.setEf(this.efSearch);
  }

  get size(): number {
    return this.live.size;
  }

  add(label: number, vector: Float32Array): void {
    if (vector.length !== this.dimensions) throw dimensionError(vector.length, this.dimensions);
    if (this.live.has(label)) this.remove(label);
    const reuse = this.deleted > 0;
    if (!reuse && this.live.size >= this.capacity) {
      this.capacity *= 2;
      this.graph.resizeIndex(this.capacity);
    }
    this.graph.addPoint(Array.from(vector), label, reuse);
    if (reuse) this.deleted--;
    this.live.add(label);
  }

  remove(label: number): boolean {
    if (!this.live.delete(label)) return false;
    this.graph.markDelete(label);
    this.deleted++;
    return true;
  }

  search(query: Float32Array, count: number): Neighbours {
    const keep = Math.min(count, this.live.size);
    if (keep <= 0) return { labels: [], similarities: [] };
    if (keep > this.efSearch) this.graph.setEf(keep);
    const result = this.graph.searchKnn(Array.from(query), keep);
    if (keep > this.efSearch) this.graph.setEf(this.efSearch);
    return {
      labels: result.neighbors,
      similarities: result.distances.map((distance) => 1 - distance),
    };
  }
}

/**
 * Exact below `hnswThreshold` vectors, HNSW from there on (built once from the exact
 * index's rows when the threshold is crossed; it does not switch back).
 */
export class AdaptiveIndex implements VectorIndex {
  private index: ExactIndex | HnswIndex;

  constructor(
    private readonly dimensions: number,
    private readonly hnswThreshold: number,
    private readonly hnswOptions: HnswOptions = {},
  ) {
    this.index = new ExactIndex(dimensions);
  }

  get kind(): 'exact' | 'hnsw' {
    return this.index.kind;
  }

  get size(): number {
    return this.index.size;
  }

  add(label: number, vector: Float32Array): void {
    const index = this.index;
    if (index instanceof ExactIndex && index.size >= this.hnswThreshold) {
      const graph = new HnswIndex(this.dimensions, index.size * 2, this.hnswOptions);
      for (const [existing, row] of index.entries()) graph.add(existing, row);
      this.index = graph;
    }
    this.index.add(label, vector);
  }

  remove(label: number): boolean {
    return this.index.remove(label);
  }

  search(query: Float32Array, count: number): Neighbours {
    return this.index.search(query, count);
  }
}

function dimensionError(actual: number, expected: number): Error {
  return new RangeError(`vector has ${actual} dimensions; the index holds ${expected}`);
}
