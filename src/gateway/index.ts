export { type Caller, KeyRing } from './auth.js';
export { type CacheDirectives, parseCacheDirectives } from './cache-control.js';
export { canonicalJson, requestKey } from './cache-key.js';
export {
  configFromEnvironment,
  DEFAULTS,
  type GatewayConfig,
  type GatewayConfigFile,
  type KeyConfig,
  loadConfig,
  type ModelConfig,
  type ProviderConfig,
  resolveConfig,
} from './config.js';
export { type ErrorBody, type ErrorType, HttpError } from './errors.js';
export type { CacheResult, ExchangeRecord, Usage } from './exchange.js';
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export type { Provider, UpstreamCall, UpstreamResponse } from './provider.js';
export { AnthropicProvider, anthropicProvider } from './providers/anthropic.js';
export {
  OpenAICompatibleProvider,
  openAICompatibleProvider,
} from './providers/openai-compatible.js';
export { createSluice, type RequestControls, Sluice, type SluiceOptions } from './sluice.js';
