import { SluiceError } from '../shared/errors.js';

/**
 * Turns texts into vectors. Implementations return one L2-normalised vector per text, in
 * order, each of `dimensions` floats, so a dot product is the cosine similarity.
 */
export interface Embedder {
  /** Length of every vector. */
  readonly dimensions: number;
  /**
   * Names the model, e.g. `'use-lite-512'`; the verifier's fitted parameters are only
   * calibrated for the embedder they were fitted with.
   */
  readonly id: string;
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  /**
   * Loads the model ahead of the first `embed` (which would otherwise wait for it); rejects
   * when it cannot be loaded. Remote embedders have nothing to load and leave it out.
   */
  warmUp?(): Promise<void>;
  /** Releases the model or connections. */
  close?(): Promise<void>;
}

/** Scales `vector` to unit length in place (a zero vector stays zero) and returns it. */
export function normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) {
    const value = vector[index] as number;
    sum += value * value;
  }
  if (sum === 0) return vector;
  const scale = 1 / Math.sqrt(sum);
  for (let index = 0; index < vector.length; index++) {
    vector[index] = (vector[index] as number) * scale;
  }
  return vector;
}

interface PendingText {
  text: string;
  resolve(vector: Float32Array): void;
  reject(error: unknown): void;
}

/**
 * Coalesces concurrent `embed` calls into batches of at most `maxBatch` texts: calls made
 * within `windowMs` of the first share one model or HTTP call. At most one batch runs at a
 * time, so a burst queues behind it and forms the next, larger batch.
 */
export class EmbedBatcher {
  private queue: PendingText[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly run: (texts: string[]) => Promise<Float32Array[]>,
    private readonly maxBatch: number,
    private readonly windowMs: number,
  ) {}

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return Promise.resolve([]);
    const promises = texts.map(
      (text) =>
        new Promise<Float32Array>((resolve, reject) => {
          this.queue.push({ text, resolve, reject });
        }),
    );
    this.schedule();
    return Promise.all(promises);
  }

  private schedule(): void {
    if (this.running || this.timer !== undefined) return;
    if (this.queue.length >= this.maxBatch || this.windowMs === 0) {
      void this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.windowMs);
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, this.maxBatch);
    try {
      const vectors = await this.run(batch.map((pending) => pending.text));
      if (vectors.length !== batch.length) {
        throw new SluiceError(
          'E_EMBEDDER_RESPONSE',
          `the embedder returned ${vectors.length} vectors for ${batch.length} texts`,
        );
      }
      batch.forEach((pending, index) => {
        pending.resolve(vectors[index] as Float32Array);
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.running = false;
      // Texts that queued behind this batch have waited long enough: run them now.
      if (this.queue.length > 0) void this.flush();
    }
  }
}
