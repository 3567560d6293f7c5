/**
 * Counters and histograms for the request path, exposed through a prom-client `Registry`.
 *
 * prom-client's own `labels(...).observe(v)` validates the label set and rebuilds its hash key
 * on every call (about 1 µs, several times per request). Here a label set is bound once to a
 * series object, and recording is a field increment (a bucket search for a histogram). The
 * registry serialises these families like its own metrics: the same `get()` shape, so the
 * exposition text is the same as a prom-client `Counter` or `Histogram` fed the same values.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  metricName?: string;
}

interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: ExportedValue[];
}

/** A metric family whose series are created on first use and kept until `reset()`. */
abstract class Family<Series> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  readonly #labelNames: readonly string[];
  protected readonly series = new Map<string, { labels: Labels; series: Series }>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
    // The registry reads name, type, get() and reset(): the interface of its own metrics.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set (values in the order of the label names). */
  labels(...values: string[]): Series {
    const key = values.join('\u0000');
    const found = this.series.get(key);
    if (found !== undefined) return found.series;
    if (values.length !== this.#labelNames.length) {
      throw new Error(
        `${this.name}: expected ${this.#labelNames.length} label values, got ${values.length}`,
      );
    }
    const labels: Record<string, string> = {};
    this.#labelNames.forEach((name, index) => {
      labels[name] = values[index] as string;
    });
    const series = this.create();
    this.series.set(key, { labels, series });
    return series;
  }

  /** Forgets every series (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.series.clear();
  }

  protected abstract create(): Series;

  protected abstract readonly type: Exported['type'];

  /** What the registry reads of a family: its metadata and every exported value. */
  protected exported(values: ExportedValue[]): Exported {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}

/** One label set of a counter. */
export class CounterSeries {
  value = 0;

  inc(amount = 1): void {
    this.value += amount;
  }
}

export class CounterFamily extends Family<CounterSeries> {
  readonly type = 'counter' as const;

  protected create(): CounterSeries {
    return new CounterSeries();
  }

  get(): Promise<Exported> {
    const values: ExportedValue[] = [];
    for (const { labels, series } of this.series.values()) {
      values.push({ value: series.value, labels: { ...labels } });
    }
    return Promise.resolve(this.exported(values));
  }
}

/** One label set of a histogram: a count per bucket (not cumulative), the sum and the count. */
export class HistogramSeries {
  readonly #bounds: readonly number[];
  /** `counts[i]`: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) index++;
    (this.counts as Float64Array)[index] = (this.counts[index] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram' as const;
  readonly #bounds: readonly number[];

  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    super(registry, name, help, labelNames);
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }

  /** Values in prom-client's order: each bucket cumulative, `+Inf`, `_sum`, `_count`. */
  getForPromString(): Promise<Exported> {
    const bucket = `${this.name}_bucket`;
    const values: ExportedValue[] = [];
    for (const { labels, series } of this.series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, index) => {
        cumulative += series.counts[index] as number;
        values.push({
          value: cumulative,
          labels: { le: bound },
          sharedLabels: labels,
          metricName: bucket,
        });
      });
      values.push(
        { value: series.count, labels: { le: '+Inf' }, sharedLabels: labels, metricName: bucket },
        { value: series.sum, labels: {}, sharedLabels: labels, metricName: `${this.name}_sum` },
        { value: series.count, labels: {}, sharedLabels: labels, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve(this.exported(values));
  }

  /** The JSON shape (`registry.getMetricsAsJSON()`): every value's labels in one object. */
  async get(): Promise<Exported> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ value, labels, sharedLabels, metricName }) => ({
      value,
      labels: { ...sharedLabels, ...labels },
      ...(metricName === undefined ? {} : { metricName }),
    }));
    return data;
  }
}
