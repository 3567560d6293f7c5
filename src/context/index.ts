export {
  type ContextManager,
  type ContextManagerOptions,
  type ContextManagerStats,
  createContextManager,
  DEFAULT_COUNTING_MODEL,
  type FitOptions,
  type FitResult,
  type FitSummary,
} from './context-manager.js';
export { ContextOverflowError } from './errors.js';
export {
  DEFAULT_KEYWORDS,
  DEFAULT_LENGTH_SATURATION,
  DEFAULT_ROLE_SCORES,
  DEFAULT_WEIGHTS,
  type ImportanceWeights,
} from './importance.js';
export {
  type CleanupOptions,
  type CompressedContext,
  type CompressOptions,
  createMemoryStore,
  DEFAULT_STAGES,
  type MemoryEntry,
  type MemoryEvents,
  type MemoryInput,
  type MemoryKind,
  type MemorySearchOptions,
  type MemorySearchResult,
  type MemoryStage,
  type MemoryStats,
  type MemoryStore,
  type MemoryStoreOptions,
  omittedMarker,
  type RetentionWeights,
  type StageSettings,
} from './memory-store.js';
export type { ChatMessage, ContentPart, ToolCall } from './messages.js';
export {
  isSummaryMessage,
  SUMMARY_MARKER,
  type SummarizeContext,
  type Summarizer,
  type SummaryMessage,
} from './summary.js';
