export { type SluiceMiddlewareOptions, sluiceMiddleware, toOpenAIUsage } from './ai-sdk.js';
export { type OpenAIClientLike, type WrapOpenAIOptions, wrapOpenAI } from './openai.js';
