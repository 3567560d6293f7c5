/**
 * `createContextManager`: fits a conversation into a model's token budget, keeping what
 * matters and keeping the prompt prefix stable from turn to turn. See `planner.ts` for the
 * strategy and docs/context.md for the options.
 */
import { type PriceTable, price } from '../cost/prices.js';
import { REPLY_PRIMING_TOKENS, type Tokenizer, tokenizerForModel } from '../cost/tokens.js';
import { DEFAULT_MAX_OUTPUT_TOKENS } from '../cost/tracker.js';
import { ConfigError } from '../shared/errors.js';
import { integerAtLeast, nonNegativeInteger, positiveInteger } from '../shared/integers.js';
import { ContextOverflowError } from './errors.js';
import {
  DEFAULT_KEYWORDS,
  DEFAULT_LENGTH_SATURATION,
  ImportanceScorer,
  type ImportanceWeights,
  resolveRoleScores,
  resolveWeights,
} from './importance.js';
import { buildUnits, type ChatMessage, keywordPattern, MessageInfoCache } from './messages.js';
import { type PlanSettings, planContext } from './planner.js';
import {
  fitSummary,
  messageTokens,
  type Summarizer,
  SummaryCache,
  type SummaryMessage,
  spanKey,
  summaryMessage,
} from './summary.js';
import { ratioOption } from './validate.js';

/** Model used for token counts when neither the call nor the options name one. */
export const DEFAULT_COUNTING_MODEL = 'gpt-4o';

export interface ContextManagerOptions {
  /**
   * Model whose tokenizer counts tokens, and whose context window is the default `maxTokens`.
   * @default 'gpt-4o' for counting; no default window
   */
  model?: string;
  /**
   * Context window in tokens (prompt + output). The budget for messages is
   * `maxTokens − reserveForOutput − tokens of the call's tools`.
   * @default the model's context window from the price table
   */
  maxTokens?: number;
  /**
   * Tokens kept free for the reply.
   * @default 0 with an explicit `maxTokens`; the model's output cap (else 4096) when
   * `maxTokens` is the model's context window
   */
  reserveForOutput?: number;
  /** The last N messages are always kept (a tool exchange they touch is kept whole). @default 4 */
  recentMessages?: number;
  /**
   * The last N `user` messages are always kept, however far back they are: in an agent loop
   * the task is the last user message, hundreds of tool messages ago. @default 2
   */
  recentUserMessages?: number;
  /**
   * Messages always kept, like system messages. Pinning one message of a tool exchange pins
   * the whole exchange. The predicate should depend on the message, not on the call.
   * @default none
   */
  pinned?: (message: ChatMessage, index: number) => boolean;
  /** Weights of the importance signals; see `ImportanceWeights` for each default. */
  weights?: Partial<ImportanceWeights>;
  /**
   * Score of each role, 0..1 (a tool call with its results scores as `tool`); roles not listed
   * score 0.5.
   * @default { user: 1, assistant: 0.5, tool: 0.4 }
   */
  roleScores?: Readonly<Record<string, number>>;
  /**
   * Words that make a message important (whole words, case-insensitive).
   * @default ['important', 'remember', "don't forget", 'decision', 'decided', 'error', 'failed', 'critical', 'constraint', 'requirement']
   */
  keywords?: readonly string[];
  /** Tokens at which the length signal saturates (log scale), in tokens. @default 512 */
  lengthSaturation?: number;
  /**
   * When the prompt exceeds the budget, older history is dropped until the prompt uses this
   * share of the budget; the conversation then grows by the rest before the next compaction.
   * Lower: fewer compactions (more cache hits), less history. In (0, 1].
   * @default 0.7
   */
  compactTo?: number;
  /**
   * Share of the budget that older messages kept for their importance may use.
   * `headShare + retainedShare` must stay below `compactTo`.
   * @default 0.15
   */
  retainedShare?: number;
  /**
   * Share of the budget kept for the head: the first non-system messages of the conversation
   * (usually the task), kept for good. Dropping happens after the head, so the head stays in the
   * cached prefix even on the turns that compact. 0 drops from the start instead.
   * @default 0.2
   */
  headShare?: number;
  /** Minimum importance (0..1) for an older message to be kept. @default 0.35 */
  retainThreshold?: number;
  /**
   * Summarizes dropped messages; the summary takes the place of the dropped span (after the
   * head and the retained older messages, before the recent ones). Called once per dropped span
   * (cached); extends the previous summary when it can.
   * Only `fit` summarizes; `fitSync` never does.
   * @default none (dropped messages are just dropped)
   */
  summarize?: Summarizer;
  /**
   * Tokens reserved for the summary message (marker included) once anything is dropped; a
   * longer summary is cut to fit.
   * @default 512
   */
  summaryMaxTokens?: number;
  /**
   * Role of the summary message. `user` by default: a summary of tool output placed in a
   * system message would give that output the authority of instructions.
   * @default 'user'
   */
  summaryRole?: 'user' | 'system';
  /** Summaries cached, by covered span, least recently used evicted. @default 256 */
  summaryCacheSize?: number;
  /** Where context windows and output caps are looked up. @default the bundled price table */
  priceTable?: PriceTable;
}

export interface FitOptions {
  /** Overrides the manager's `maxTokens`, in tokens. */
  maxTokens?: number;
  /** Overrides the manager's `model` (counting and default window). */
  model?: string;
  /** Overrides the manager's `reserveForOutput`, in tokens. */
  reserveForOutput?: number;
  /** Tool definitions sent with the request: their tokens come off the budget. */
  tools?: readonly unknown[];
}

export interface FitSummary {
  /** Whether a summary message was inserted (false when the summarizer failed or was empty). */
  inserted: boolean;
  /**
   * Indices of the messages the summary covers: every message dropped so far. A message that
   * was dropped and later recalled by a reference is covered and kept.
   */
  covers: number[];
  /** Why no summary was inserted, when the summarizer threw. */
  error?: unknown;
}

export interface FitResult<Message extends ChatMessage = ChatMessage> {
  /** The kept messages in their original order, with the summary where the dropped span ends. */
  messages: (Message | SummaryMessage)[];
  /** Indices of the kept messages, ascending. */
  kept: number[];
  /** Indices of the dropped messages, ascending. */
  dropped: number[];
  /** Indices of older messages kept for their importance (a subset of `kept`). */
  retained: number[];
  tokens: {
    /** Tokens of all the messages (reply priming included), as `Tokenizer.countMessages`. */
    before: number;
    /** Tokens of `messages`, exactly as `Tokenizer.countMessages(messages)`. */
    after: number;
    /** Tokens the messages may use. `after <= budget`. */
    budget: number;
  };
  /** Present when a summarizer is configured and messages were dropped. */
  summary?: FitSummary;
  /** Compactions while replaying the conversation (a measure of prefix changes). */
  compactions: number;
}

export interface ContextManagerStats {
  fits: number;
  /** Fits that dropped at least one message. */
  pruned: number;
  summaryCalls: number;
  summaryFailures: number;
  /** Summaries answered from the cache. */
  summaryHits: number;
}

export interface ContextManager {
  /**
   * Fits `messages` into the budget, summarizing dropped messages when a summarizer is set.
   * Throws `ContextOverflowError` when the always-kept messages alone exceed the budget.
   */
  fit<Message extends ChatMessage>(
    messages: readonly Message[],
    options?: FitOptions,
  ): Promise<FitResult<Message>>;
  /** `fit` without summarizing, synchronously (no summary reserve either). */
  fitSync<Message extends ChatMessage>(
    messages: readonly Message[],
    options?: FitOptions,
  ): FitResult<Message>;
  stats(): ContextManagerStats;
}

interface Prepared<Message extends ChatMessage> {
  result: FitResult<Message>;
  tokenizer: Tokenizer;
  covered: number[];
  previouslyCovered: number[];
}

export function createContextManager(options: ContextManagerOptions = {}): ContextManager {
  const settings = resolveOptions(options);
  const infos = new MessageInfoCache(keywordPattern(settings.keywords));
  const scorer = new ImportanceScorer(settings);
  const summaries = new SummaryCache(settings.summaryCacheSize);
  const counters: ContextManagerStats = {
    fits: 0,
    pruned: 0,
    summaryCalls: 0,
    summaryFailures: 0,
    summaryHits: 0,
  };

  const budgetFor = (fitOptions: FitOptions, tokenizer: Tokenizer, model: string | undefined) => {
    let maxTokens = fitOptions.maxTokens ?? options.maxTokens;
    let reserve = fitOptions.reserveForOutput ?? options.reserveForOutput;
    if (maxTokens === undefined) {
      const known = model === undefined ? undefined : settings.priceTable(model);
      if (known?.contextWindow === undefined) {
        throw new ConfigError(
          `no token budget: pass maxTokens, or a model whose context window is known (got ${model ?? 'no model'})`,
        );
      }
      maxTokens = known.contextWindow;
      reserve ??= known.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
    }
    positiveInteger(maxTokens, 'maxTokens');
    nonNegativeInteger(reserve ?? 0, 'reserveForOutput');
    const tools = fitOptions.tools ?? [];
    const budget = maxTokens - (reserve ?? 0) - tokenizer.countTools(tools);
    if (budget <= REPLY_PRIMING_TOKENS) {
      throw new ConfigError(
        `maxTokens ${maxTokens} leaves no room for messages after reserveForOutput (${reserve ?? 0}) and tools`,
      );
    }
    return budget;
  };

  const prepare = <Message extends ChatMessage>(
    messages: readonly Message[],
    fitOptions: FitOptions,
    summarizing: boolean,
  ): Prepared<Message> => {
    counters.fits += 1;
    const model = fitOptions.model ?? options.model;
    const tokenizer = tokenizerForModel(model ?? DEFAULT_COUNTING_MODEL);
    const budget = budgetFor(fitOptions, tokenizer, model);
    const messageAt = (index: number): Message => messages[index] as Message;
    const tokens = new Uint32Array(messages.length);
    let before = REPLY_PRIMING_TOKENS;
    for (let index = 0; index < messages.length; index += 1) {
      const count = infos.tokens(messageAt(index), tokenizer);
      tokens[index] = count;
      before += count;
    }
    const { units, unitOf } = buildUnits(
      messages,
      (index) => tokens[index] as number,
      (index) => infos.info(messageAt(index)).keyword,
      settings.pinned,
    );
    const planSettings: PlanSettings = {
      budget,
      compactTo: settings.compactTo,
      retainedShare: settings.retainedShare,
      headShare: settings.headShare,
      retainThreshold: settings.retainThreshold,
      recentMessages: settings.recentMessages,
      recentUserMessages: settings.recentUserMessages,
      summaryReserve: summarizing ? settings.summaryMaxTokens : 0,
      baseTokens: REPLY_PRIMING_TOKENS,
    };
    const plan = planContext(
      units,
      (index) => infos.info(messageAt(index)).features,
      scorer,
      planSettings,
    );
    if (plan.overflow) throw new ContextOverflowError(plan.charged, budget);

    const kept: number[] = [];
    const dropped: number[] = [];
    const keptMessages: (Message | SummaryMessage)[] = [];
    for (let index = 0; index < messages.length; index += 1) {
      if (plan.kept[unitOf[index] as number] === 1) {
        kept.push(index);
        keptMessages.push(messageAt(index));
      } else dropped.push(index);
    }
    if (dropped.length > 0) counters.pruned += 1;
    const messagesOf = (unitIndexes: readonly number[]): number[] =>
      unitIndexes.flatMap((unit) => units[unit]?.messages ?? []).sort((a, b) => a - b);
    return {
      result: {
        messages: keptMessages,
        kept,
        dropped,
        retained: messagesOf(plan.retained),
        tokens: { before, after: plan.tokens, budget },
        compactions: plan.compactions,
      },
      tokenizer,
      covered: messagesOf(plan.covered),
      previouslyCovered: messagesOf(plan.previouslyCovered),
    };
  };

  const summarizeSpan = async (
    summarizer: Summarizer,
    messages: readonly ChatMessage[],
    prepared: Prepared<ChatMessage>,
    maxTokens: number,
  ): Promise<string> => {
    const keyOf = (indices: readonly number[]): string =>
      spanKey(indices.map((index) => infos.fingerprint(messages[index] as ChatMessage)));
    const key = keyOf(prepared.covered);
    const cached = summaries.peek(key);
    if (cached !== undefined) {
      counters.summaryHits += 1;
      return cached;
    }
    const previous =
      prepared.previouslyCovered.length > 0
        ? summaries.peek(keyOf(prepared.previouslyCovered))
        : undefined;
    return summaries.getOrCreate(key, async () => {
      counters.summaryCalls += 1;
      try {
        const previousText = previous === undefined ? '' : await previous.catch(() => '');
        if (previousText !== '') {
          const earlier = new Set(prepared.previouslyCovered);
          const added = prepared.covered
            .filter((index) => !earlier.has(index))
            .map((index) => messages[index] as ChatMessage);
          const carried = summaryMessage(
            settings.summaryRole,
            prepared.previouslyCovered.length,
            previousText,
          );
          return await summarizer([carried, ...added], {
            maxTokens,
            previousSummary: previousText,
          });
        }
        return await summarizer(
          prepared.covered.map((index) => messages[index] as ChatMessage),
          { maxTokens },
        );
      } catch (error) {
        counters.summaryFailures += 1;
        throw error;
      }
    });
  };

  return {
    async fit<Message extends ChatMessage>(
      messages: readonly Message[],
      fitOptions: FitOptions = {},
    ): Promise<FitResult<Message>> {
      const summarizer = settings.summarize;
      const prepared = prepare(messages, fitOptions, summarizer !== undefined);
      const { result, tokenizer } = prepared;
      if (summarizer === undefined || result.dropped.length === 0) return result;

      const covers = prepared.covered;
      const overhead = messageTokens(
        tokenizer,
        summaryMessage(settings.summaryRole, covers.length, ''),
      );
      const maxTokens = Math.max(1, settings.summaryMaxTokens - overhead);
      let text: string;
      try {
        text = (
          await summarizeSpan(summarizer, messages, prepared as Prepared<ChatMessage>, maxTokens)
        ).trim();
      } catch (error) {
        result.summary = { inserted: false, covers, error };
        return result;
      }
      const message =
        text === ''
          ? undefined
          : fitSummary(
              tokenizer,
              settings.summaryRole,
              covers.length,
              text,
              settings.summaryMaxTokens,
            );
      if (message === undefined) {
        result.summary = { inserted: false, covers };
        return result;
      }
      // At the end of the dropped span: after the head and the retained messages, before the
      // recent ones. The cached prefix up to there is untouched when the summary changes.
      const lastDropped = result.dropped[result.dropped.length - 1] as number;
      const position = result.kept.filter((index) => index < lastDropped).length;
      result.messages.splice(position, 0, message);
      result.tokens.after += messageTokens(tokenizer, message);
      result.summary = { inserted: true, covers };
      return result;
    },

    fitSync<Message extends ChatMessage>(
      messages: readonly Message[],
      fitOptions: FitOptions = {},
    ): FitResult<Message> {
      return prepare(messages, fitOptions, false).result;
    },

    stats(): ContextManagerStats {
      return { ...counters };
    },
  };
}

interface ResolvedOptions {
  recentMessages: number;
  recentUserMessages: number;
  pinned: ((message: ChatMessage, index: number) => boolean) | undefined;
  weights: ImportanceWeights;
  roleScores: Record<string, number>;
  keywords: readonly string[];
  lengthSaturation: number;
  compactTo: number;
  retainedShare: number;
  headShare: number;
  retainThreshold: number;
  summarize: Summarizer | undefined;
  summaryMaxTokens: number;
  summaryRole: 'user' | 'system';
  summaryCacheSize: number;
  priceTable: (model: string) => ReturnType<typeof price>;
}

function resolveOptions(options: ContextManagerOptions): ResolvedOptions {
  if (options.maxTokens !== undefined) positiveInteger(options.maxTokens, 'maxTokens');
  if (options.reserveForOutput !== undefined) {
    nonNegativeInteger(options.reserveForOutput, 'reserveForOutput');
  }
  const compactTo = ratioOption('compactTo', options.compactTo ?? 0.7, { exclusiveMin: true });
  const retainedShare = ratioOption('retainedShare', options.retainedShare ?? 0.15);
  const headShare = ratioOption('headShare', options.headShare ?? 0.2);
  if (headShare + retainedShare >= compactTo) {
    throw new ConfigError(
      `headShare + retainedShare (${headShare} + ${retainedShare}) must be below compactTo (${compactTo}): older messages would leave no room for recent ones`,
    );
  }
  const keywords = options.keywords ?? DEFAULT_KEYWORDS;
  for (const keyword of keywords) {
    if (typeof keyword !== 'string' || keyword.trim() === '') {
      throw new ConfigError('keywords must be non-empty strings');
    }
  }
  const summaryRole = options.summaryRole ?? 'user';
  if (summaryRole !== 'user' && summaryRole !== 'system') {
    throw new ConfigError(`summaryRole must be 'user' or 'system', got ${String(summaryRole)}`);
  }
  const lengthSaturation = options.lengthSaturation ?? DEFAULT_LENGTH_SATURATION;
  positiveInteger(lengthSaturation, 'lengthSaturation');
  const table = options.priceTable;
  return {
    recentMessages: positiveInteger(options.recentMessages ?? 4, 'recentMessages'),
    recentUserMessages: nonNegativeInteger(options.recentUserMessages ?? 2, 'recentUserMessages'),
    pinned: options.pinned,
    weights: resolveWeights(options.weights),
    roleScores: resolveRoleScores(options.roleScores),
    keywords: keywords.map((keyword) => keyword.trim()),
    lengthSaturation,
    compactTo,
    retainedShare,
    headShare,
    retainThreshold: ratioOption('retainThreshold', options.retainThreshold ?? 0.35),
    summarize: options.summarize,
    summaryMaxTokens: integerAtLeast(options.summaryMaxTokens ?? 512, 16, 'summaryMaxTokens'),
    summaryRole,
    summaryCacheSize: positiveInteger(options.summaryCacheSize ?? 256, 'summaryCacheSize'),
    priceTable: table === undefined ? price : (model) => table.price(model),
  };
}
