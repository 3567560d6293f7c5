/**
 * Batching: micro-batching of concurrent calls (`createBatcher`), merging of concurrent
 * embeddings requests (`createEmbeddingsBatcher`), and deferral of non-urgent work to an
 * off-peak window or the provider's Batch API (`createDeferredQueue`, `createBatchClient`).
 */
export {
  BATCH_STATUSES,
  BatchApiError,
  type BatchClient,
  type BatchClientOptions,
  type BatchEndpoint,
  type BatchOutputLine,
  type BatchRequestLine,
  type CreateBatchParams,
  createBatchClient,
  FINAL_BATCH_STATUSES,
  type ProviderBatch,
  type ProviderBatchStatus,
  type ProviderFile,
  parseOutputLines,
} from './batch-api.js';
export {
  type Batcher,
  type BatcherOptions,
  type BatcherStats,
  type BatchItemResult,
  type BatchRunner,
  createBatcher,
  type FlushReason,
} from './batcher.js';
export {
  createDeferredQueue,
  type DeferredCall,
  type DeferredExecutor,
  type DeferredItem,
  type DeferredMode,
  type DeferredPrice,
  type DeferredPriceFunction,
  type DeferredQueue,
  type DeferredQueueOptions,
  type DeferredQueueStats,
  type DeferredStatus,
  type EnqueueOptions,
  type TickReport,
} from './deferred-queue.js';
export {
  createEmbeddingsBatcher,
  type Embedding,
  type EmbeddingsBatcher,
  type EmbeddingsBatcherOptions,
  type EmbeddingsBatcherStats,
  type EmbeddingsRequest,
  type EmbeddingsResponse,
  type EmbeddingsUsage,
  type EmbedFunction,
  type EmbedParameters,
  estimateEmbeddingTokens,
  splitProportionally,
  type UpstreamEmbeddings,
} from './embeddings.js';
export { createOffPeakSchedule, type OffPeakSchedule, type OffPeakWindow } from './off-peak.js';
