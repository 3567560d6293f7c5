export {
  type CacheCounters,
  GatewayMetrics,
  LabelLimiter,
  type RequestObservation,
} from './metrics.js';
