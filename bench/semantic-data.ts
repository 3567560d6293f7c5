/**
 * Data and helpers shared by the semantic benchmark (`semantic.ts`) and the verifier fit
 * (`semantic-fit.ts`): the paraphrase data sets, a seeded sampler, and an on-disk cache of
 * embeddings under the OS temp folder so re-runs skip the model.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Embedder } from '../src/semantic/embedder.js';
import { createRandom } from '../src/shared/random.js';
import { findDataDir } from './lib/data-dir.js';

export interface QqpPair {
  a: string;
  b: string;
  duplicate: boolean;
}

export interface ParaphrasePair {
  origin: string;
  similar: string;
}

/** The `semantic/` folder of the shared data directory (see `lib/data-dir.ts`). */
export function findSemanticDataDir(): string {
  return join(findDataDir('semantic', 'semantic data'), 'semantic');
}

export function loadQqp(dataDir: string, split: 'dev' | 'test'): QqpPair[] {
  const text = gunzipSync(readFileSync(join(dataDir, `qqp-${split}.jsonl.gz`))).toString('utf8');
  const pairs: QqpPair[] = [];
  for (const line of text.split('\n')) {
    if (line.trim().length === 0) continue;
    const row = JSON.parse(line) as QqpPair;
    pairs.push({ a: String(row.a), b: String(row.b), duplicate: row.duplicate === true });
  }
  return pairs;
}

export function loadParaphrases(dataDir: string): ParaphrasePair[] {
  return JSON.parse(
    readFileSync(join(dataDir, 'gptcache-paraphrase-999.json'), 'utf8'),
  ) as ParaphrasePair[];
}

export function shuffled<Item>(items: readonly Item[], random: () => number): Item[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as Item, copy[index] as Item];
  }
  return copy;
}

/** `count` pairs keeping the data's share of duplicates (stratified), in a seeded order. */
export function stratifiedSample(
  pairs: readonly QqpPair[],
  count: number,
  seed: number,
): QqpPair[] {
  const random = createRandom(seed);
  const positives = shuffled(
    pairs.filter((pair) => pair.duplicate),
    random,
  );
  const negatives = shuffled(
    pairs.filter((pair) => !pair.duplicate),
    random,
  );
  const take = Math.min(count, pairs.length);
  const positiveCount = Math.round((take * positives.length) / pairs.length);
  return shuffled(
    [...positives.slice(0, positiveCount), ...negatives.slice(0, take - positiveCount)],
    random,
  );
}

/**
 * Embeds `texts` with `embedder`, reading and writing a cache file in the OS temp folder
 * keyed by the embedder id and the texts, so a second run costs nothing.
 */
export async function embedCached(
  embedder: Embedder,
  texts: readonly string[],
  label: string,
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array[]> {
  const hash = createHash('sha256');
  hash.update(embedder.id);
  for (const text of texts) hash.update(`${text}\u0000`);
  const file = join(tmpdir(), `sluice-${label}-${hash.digest('hex').slice(0, 16)}.f32`);
  const dimensions = embedder.dimensions;
  try {
    const bytes = await readFile(file);
    if (bytes.byteLength === texts.length * dimensions * 4) {
      const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      return texts.map((_, index) => all.slice(index * dimensions, (index + 1) * dimensions));
    }
  } catch {
    // not cached yet
  }
  const vectors: Float32Array[] = [];
  const batch = 256;
  for (let start = 0; start < texts.length; start += batch) {
    vectors.push(...(await embedder.embed(texts.slice(start, start + batch))));
    onProgress?.(Math.min(start + batch, texts.length), texts.length);
  }
  const out = new Float32Array(texts.length * dimensions);
  vectors.forEach((vector, index) => {
    out.set(vector, index * dimensions);
  });
  await writeFile(`${file}.tmp`, Buffer.from(out.buffer));
  await rename(`${file}.tmp`, file);
  return vectors;
}

export function dot(left: Float32Array, right: Float32Array): number {
  let sum = 0;
  for (let index = 0; index < left.length; index++) {
    sum += (left[index] as number) * (right[index] as number);
  }
  return sum;
}
