export { ConfigError, SluiceError } from '../shared/errors.js';
export {
  CacheKeyBuilder,
  DEFAULT_VOLATILE_PARAMETERS,
  type NormalizeOptions,
} from './cache-key.js';
export { type ArgumentIssue, ToolArgumentsError, ToolError } from './errors.js';
export {
  createToolExecutor,
  type ExecuteAllOptions,
  type ExecuteOptions,
  type OpenAIToolDefinition,
  type ToolCall,
  type ToolCallResult,
  ToolExecutor,
  type ToolExecutorOptions,
  type ToolExecutorStats,
  type ToolResultSource,
} from './executor.js';
export {
  formatToolError,
  formatToolResult,
  type OpenAIToolCall,
  parseToolArguments,
  type ToolMessage,
} from './openai.js';
export type { RetryOptions } from './retry.js';
export type { JsonSchema, ToolParameters } from './schema.js';
export type { ToolStats } from './stats.js';
export { defineTool, type ToolContext, type ToolDefinition } from './tool.js';
