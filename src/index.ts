/**
 * Sluice: a performance layer for LLM agents. Import each module from its own subpath
 * (`sluice/cache`, ...); this root re-exports the shared error types only.
 */
export { ConfigError, SluiceError } from './shared/errors.js';
