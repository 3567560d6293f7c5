/**
 * Fits the semantic cache's verifier on Quora Question Pairs **dev** only, and writes the
 * parameters to `src/semantic/verifier-params.ts`.
 *
 *   npm run build && node dist/bench/semantic-fit.js [--pairs 10000] [--seed N] [--dry-run]
 *
 * Method:
 * 1. A stratified sample of `--pairs` dev pairs (default 10,000; the data's 37.4% duplicates
 *    kept), in a seeded order. Embedding all 56k pairs with the local model would take ~20 min;
 *    the sample takes ~3 min once, then embeddings are read back from a file in the OS temp folder.
 * 2. Each pair gets its cosine similarity and the guard features (`src/semantic/features.ts`).
 * 3. 70% of the sample fits an L2-regularised logistic regression on all pairs (IRLS); the
 *    other 30% (the calibration split) measures, for each target false-hit rate, the lowest
 *    score threshold whose false-hit rate (non-duplicates answered / non-duplicates, with the
 *    vetoing guards applied) stays within it. The test split is never read.
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeText, comparePair, FEATURE_NAMES, GUARD_NAMES } from '../src/semantic/features.js';
import { localEmbedder } from '../src/semantic/local-embedder.js';
import { fitLogistic, predict } from '../src/semantic/logistic.js';
import type { OperatingPoint, VerifierParams } from '../src/semantic/verifier.js';
import { createRandom } from '../src/shared/random.js';
import { parseBenchArgs } from './lib/args.js';
import { headerLine, machineEnvironment } from './lib/environment.js';
import {
  dot,
  embedCached,
  findSemanticDataDir,
  loadQqp,
  shuffled,
  stratifiedSample,
} from './semantic-data.js';

const TARGETS = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
];
const FIT_SHARE = 0.7;
const FIT_MIN_SIMILARITY = 0.75;
const DEFAULT_SEED = 0x5e3a_2026;

interface ScoredPair {
  similarity: number;
  duplicate: boolean;
  features: number[];
  guards: string[];
}

export async function run(args: string[]): Promise<void> {
  const dryRun = args.includes('--dry-run');
  const parsed = parseBenchArgs(
    args.filter((arg) => arg !== '--dry-run'),
    ['pairs', 'seed', 'l2'],
  );
  const pairCount = Number(parsed.extra.pairs ?? 10_000);
  const seed = Number(parsed.extra.seed ?? DEFAULT_SEED);
  const l2 = Number(parsed.extra.l2 ?? 1);
  const environment = machineEnvironment();
  console.log(headerLine('semantic-fit', environment, false));

  const dataDir = findSemanticDataDir();
  const dev = loadQqp(dataDir, 'dev');
  const sample = stratifiedSample(dev, pairCount, seed);
  const positives = sample.filter((pair) => pair.duplicate).length;
  console.log(
    `qqp-dev: ${dev.length} pairs; sample ${sample.length} (${positives} duplicates), seed ${seed}`,
  );

  const embedder = localEmbedder();
  const started = performance.now();
  const texts = sample.flatMap((pair) => [pair.a, pair.b]);
  const vectors = await embedCached(embedder, texts, 'semantic-fit', (done, total) => {
    if (done % 2048 < 256) process.stderr.write(`  embedded ${done}/${total}\n`);
  });
  console.log(
    `embeddings: ${texts.length} texts in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const scored: ScoredPair[] = sample.map((pair, index) => {
    const similarity = dot(
      vectors[2 * index] as Float32Array,
      vectors[2 * index + 1] as Float32Array,
    );
    const { features, guards } = comparePair(analyzeText(pair.b), analyzeText(pair.a), similarity);
    return { similarity, duplicate: pair.duplicate, features, guards };
  });

  const order = shuffled(
    scored.map((_, index) => index),
    createRandom(seed + 1),
  );
  const fitCount = Math.round(order.length * FIT_SHARE);
  const fitSet = order.slice(0, fitCount).map((index) => scored[index] as ScoredPair);
  const calibrationSet = order.slice(fitCount).map((index) => scored[index] as ScoredPair);

  // The verifier only decides among near neighbours: fit it there (guard features included,
  // so they carry weight when a veto is turned off).
  const region = fitSet.filter((pair) => pair.similarity >= FIT_MIN_SIMILARITY);
  console.log(
    `fit: ${region.length} of ${fitSet.length} fit-split pairs (similarity >= ${FIT_MIN_SIMILARITY})`,
  );
  const model = fitLogistic(
    region.map((pair) => pair.features),
    region.map((pair) => pair.duplicate),
    { l2 },
  );
  console.log('\nfeature                    weight (standardised)');
  FEATURE_NAMES.forEach((name, index) => {
    console.log(`  ${name.padEnd(24)} ${(model.weights[index] as number).toFixed(3)}`);
  });
  console.log(`  ${'bias'.padEnd(24)} ${model.bias.toFixed(3)}`);

  console.log('\nguard        fires on duplicates   fires on non-duplicates   (calibration split)');
  const calibrationPositives = calibrationSet.filter((pair) => pair.duplicate).length;
  const calibrationNegatives = calibrationSet.length - calibrationPositives;
  for (const guard of GUARD_NAMES) {
    const onPositives = calibrationSet.filter(
      (pair) => pair.duplicate && pair.guards.includes(guard),
    ).length;
    const onNegatives = calibrationSet.filter(
      (pair) => !pair.duplicate && pair.guards.includes(guard),
    ).length;
    console.log(
      `  ${guard.padEnd(11)} ${pct(onPositives / calibrationPositives).padStart(10)}            ${pct(onNegatives / calibrationNegatives).padStart(10)}`,
    );
  }

  const vetoGuards = [...GUARD_NAMES];
  const verifierScores = calibrationSet.map((pair) =>
    pair.guards.some((guard) => (vetoGuards as string[]).includes(guard))
      ? -1
      : predict(model, pair.features),
  );
  const cosineScores = calibrationSet.map((pair) => pair.similarity);
  const labels = calibrationSet.map((pair) => pair.duplicate);
  const calibration = operatingPoints(verifierScores, labels);
  const cosine = operatingPoints(cosineScores, labels);

  console.log('\ncalibration split: verifier vs raw cosine at the same false-hit rate');
  console.log(
    '  false-hit rate | verifier threshold  precision  recall | cosine threshold  precision  recall',
  );
  TARGETS.forEach((target, index) => {
    const point = calibration[index] as OperatingPoint;
    const base = cosine[index] as OperatingPoint;
    console.log(
      `  ${pct(target).padStart(14)} | ${point.threshold.toFixed(4).padStart(18)} ${point.precision.toFixed(3).padStart(10)} ${point.recall.toFixed(3).padStart(7)} | ${base.threshold.toFixed(4).padStart(16)} ${base.precision.toFixed(3).padStart(10)} ${base.recall.toFixed(3).padStart(7)}`,
    );
  });

  // Lowest similarity of any pair that passes at the loosest calibrated threshold.
  const loosest = (calibration[calibration.length - 1] as OperatingPoint).threshold;
  let minSimilarity = 1;
  calibrationSet.forEach((pair, index) => {
    if ((verifierScores[index] as number) >= loosest)
      minSimilarity = Math.min(minSimilarity, pair.similarity);
  });
  minSimilarity = Math.max(0, Math.floor(minSimilarity * 20) / 20 - 0.05);
  console.log(`\nminSimilarity (prefilter): ${minSimilarity.toFixed(2)}`);

  const params: VerifierParams = {
    version: 1,
    embedder: embedder.id,
    features: [...FEATURE_NAMES],
    model: {
      means: model.means.map(round),
      scales: model.scales.map(round),
      weights: model.weights.map(round),
      bias: round(model.bias),
    },
    vetoGuards,
    calibration: calibration.map((point) => ({
      falseHitRate: point.falseHitRate,
      threshold: round(point.threshold),
      precision: round(point.precision),
      recall: round(point.recall),
    })),
    minSimilarity,
    provenance: {
      data: 'qqp-dev.jsonl.gz',
      fittedOn: environment.date.slice(0, 10),
      samplePairs: sample.length,
      sampleDuplicates: positives,
      fitPairs: fitSet.length,
      calibrationPairs: calibrationSet.length,
      seed,
      l2,
      fitMinSimilarity: FIT_MIN_SIMILARITY,
    },
  };
  if (dryRun) return;
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const target = resolve(root, 'src', 'semantic', 'verifier-params.ts');
  writeFileSync(
    target,
    `// Written by bench/semantic-fit.ts (npm run build && node dist/bench/semantic-fit.js); do not edit.\nimport type { VerifierParams } from './verifier.js';\n\nexport const fittedVerifierParams: VerifierParams = ${JSON.stringify(params, null, 2)};\n`,
  );
  console.log(`\nwrote ${target}`);
}

/** For each target false-hit rate, the lowest threshold that stays within it, and its precision/recall. */
function operatingPoints(scores: readonly number[], labels: readonly boolean[]): OperatingPoint[] {
  const negatives = scores.filter((_, index) => !labels[index]).sort((left, right) => right - left);
  const positives = scores.filter((_, index) => labels[index]);
  return TARGETS.map((target) => {
    const allowed = Math.floor(target * negatives.length);
    // Hits are scores strictly above the (allowed+1)-th highest negative score.
    const threshold = Math.max(0, (negatives[allowed] ?? 0) + 1e-6);
    const falseHits = negatives.filter((score) => score >= threshold).length;
    const trueHits = positives.filter((score) => score >= threshold).length;
    return {
      falseHitRate: target,
      threshold,
      precision: trueHits + falseHits === 0 ? 1 : trueHits / (trueHits + falseHits),
      recall: trueHits / Math.max(1, positives.length),
    };
  });
}

function pct(share: number): string {
  return `${(share * 100).toFixed(share < 0.01 ? 2 : 1)}%`;
}

function round(value: number): number {
  return Number(value.toPrecision(6));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  run(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
