export {
  type BudgetSlot,
  type BudgetStore,
  type BudgetTotals,
  MemoryBudgetStore,
  RedisBudgetStore,
} from './budget-store.js';
export {
  type BudgetActionConfig,
  type BudgetAdvice,
  type BudgetAlert,
  type BudgetConfig,
  type BudgetEvents,
  BudgetExceededError,
  type BudgetStatus,
  type BudgetSubject,
  Budgets,
  type BudgetsOptions,
  createBudgets,
  type Reservation,
} from './budgets.js';
export {
  createLedger,
  Ledger,
  type LedgerEntry,
  type LedgerOptions,
  type Scope,
  type SpendSummary,
} from './ledger.js';
export { loadLiteLlmPrices, parseLiteLlmPrices } from './litellm.js';
export {
  formatUsd,
  NANOS_PER_USD,
  type Nanos,
  nanosToUsd,
  type PicosPerToken,
  perMillionToPico,
  usdToNanos,
} from './money.js';
export {
  BUNDLED_ALIASES,
  BUNDLED_PRICES,
  PRICE_TABLE_DATE,
  PRICE_TABLE_SOURCE,
} from './price-table.js';
export {
  createPriceTable,
  type ModelClass,
  type ModelMode,
  type ModelPrice,
  type PartialPriceInUsdPerMillion,
  type PriceInUsdPerMillion,
  PriceTable,
  type PriceTableOptions,
  price,
} from './prices.js';
export {
  type CountingBudget,
  type CountingBudgetOptions,
  countTokens,
  createCountingBudget,
  DEFAULT_COUNTING_BURST_MS,
  type EncodingName,
  encodingForModel,
  getTokenizer,
  LONG_CHUNK_CHARS,
  type Tokenizer,
  tokenizerForModel,
} from './tokens.js';
export {
  type CostBreakdown,
  type CostEstimate,
  type CostTracker,
  type CostTrackerOptions,
  costOf,
  createCostTracker,
  DEFAULT_MAX_OUTPUT_TOKENS,
  type EstimateRequest,
  type RequestCost,
} from './tracker.js';
export { type NormalizedUsage, normalizeUsage, USAGE_ERROR_CODE } from './usage.js';
export {
  BudgetWindow,
  type CalendarWindow,
  type WindowPosition,
  type WindowSpec,
} from './windows.js';
