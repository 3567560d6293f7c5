export { type Clock, ManualClock, systemClock } from '../shared/clock.js';
export { ConfigError, SluiceError } from '../shared/errors.js';
export type { AcquireOptions, Lease } from './kind-pool.js';
export type { AutoscaleOptions, PoolKindOptions, ResourceContext } from './options.js';
export {
  createResourcePredictor,
  type PredictionConfidence,
  type ResourceDimension,
  type ResourcePrediction,
  ResourcePredictor,
  type ResourcePredictorOptions,
  type ResourceUsage,
} from './resource-predictor.js';
export type {
  DurationSummary,
  PoolEvents,
  PoolKindStats,
  PoolPlan,
  WarmPoolStats,
} from './stats.js';
export {
  createWarmPool,
  type PlanOptions,
  type UseOptions,
  WarmPool,
  type WarmPoolOptions,
} from './warm-pool.js';
