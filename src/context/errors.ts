import { SluiceError } from '../shared/errors.js';

/**
 * The messages that must always be kept (system, pinned and recent ones, plus the summary
 * reserve once anything is dropped) do not fit the token budget. Not retryable as is: raise
 * the budget, pin less or keep fewer recent messages.
 */
export class ContextOverflowError extends SluiceError {
  /** Tokens the always-kept messages need. */
  readonly required: number;
  /** Tokens available for messages. */
  readonly budget: number;

  constructor(required: number, budget: number) {
    super(
      'E_CONTEXT_OVERFLOW',
      `the messages that must be kept need ${required} tokens but the budget is ${budget}`,
    );
    this.name = 'ContextOverflowError';
    this.required = required;
    this.budget = budget;
  }
}
