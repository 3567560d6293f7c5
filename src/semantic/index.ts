export { EmbedBatcher, type Embedder, normalize } from './embedder.js';
export {
  analyzeText,
  comparePair,
  FEATURE_NAMES,
  GUARD_NAMES,
  type GuardName,
  type PairComparison,
  type TextAnalysis,
} from './features.js';
export { type LocalEmbedderOptions, localEmbedder } from './local-embedder.js';
export { type FitOptions, fitLogistic, type LogisticModel, predict } from './logistic.js';
export { type OpenAIEmbedderOptions, openAIEmbedder } from './openai-embedder.js';
export {
  RedisSemanticStore,
  type RedisSemanticStoreOptions,
  redisSemanticStore,
} from './redis-semantic-store.js';
export {
  type ChatMessage,
  type ChatRequest,
  parseRequest,
  type SemanticRequest,
  type SemanticScope,
  type Uncacheable,
} from './request.js';
export {
  createSemanticCache,
  DEFAULT_HNSW_THRESHOLD,
  DEFAULT_TARGET_FALSE_HIT_RATE,
  type MissReason,
  SemanticCache,
  type SemanticCacheEvents,
  type SemanticCacheOptions,
  type SemanticCacheStats,
  type SemanticLookup,
  type StoreResult,
} from './semantic-cache.js';
export type { LoadedEntry, PersistedEntry, SemanticStore } from './semantic-store.js';
export {
  SqliteSemanticStore,
  type SqliteSemanticStoreOptions,
  sqliteSemanticStore,
} from './sqlite-semantic-store.js';
export {
  AdaptiveIndex,
  ExactIndex,
  HnswIndex,
  type HnswOptions,
  type Neighbours,
  type VectorIndex,
} from './vector-index.js';
export { type OperatingPoint, type Verdict, Verifier, type VerifierParams } from './verifier.js';
export { fittedVerifierParams } from './verifier-params.js';
