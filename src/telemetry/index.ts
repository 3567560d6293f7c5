export {
  Activity,
  type ActivityEvent,
  type ActivityOptions,
  type ActivityPoint,
  type ActivitySnapshot,
  createActivity,
  type ModelActivity,
} from './activity.js';
export {
  type DependencyHealth,
  HealthRegistry,
  type HealthRegistryOptions,
  type HealthSnapshot,
  type HealthStatus,
} from './health.js';
export {
  type AdaptiveTargetOptions,
  createLatencyTracker,
  LatencyHistogram,
  type LatencyHistogramOptions,
  type LatencySnapshot,
  type LatencySummary,
  LatencyTracker,
  type LatencyTrackerOptions,
  type TrackedTimeoutOptions,
  type WithTimeoutOptions,
  withTimeout,
} from './latency.js';
export {
  type CacheCounters,
  GatewayMetrics,
  LabelLimiter,
  type Outcome,
  outcomeOfStatus,
  type RequestObservation,
} from './metrics.js';
export {
  endRequestTrace,
  endUpstreamTrace,
  type RequestOutcome,
  type RequestTrace,
  startRequestTrace,
  startUpstreamTrace,
  type UpstreamTrace,
} from './tracing.js';
