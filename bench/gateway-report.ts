/**
 * The verdicts and the printed report of the gateway benchmark: one table row per target, one
 * line per target figure (PASS / FAIL), one summary line per target.
 */
import {
  pairedRatio,
  type TargetId,
  type TargetRow,
  type ThroughputPhase,
} from './gateway-measure.js';

/** A figure a target must reach on this machine. */
export interface Criterion {
  target: TargetId;
  label: string;
  /**
   * `throughput`: requests/s ÷ `baseline`'s (paired by round), at least `limit`.
   * `added-p50`: p50 at one connection minus the direct p50, at most `limit` milliseconds.
   */
  kind: 'throughput' | 'added-p50';
  baseline?: TargetId;
  limit: number;
}

export interface Verdict extends Criterion {
  value: number | null;
  verdict: 'PASS' | 'FAIL' | 'INVALID' | 'SKIPPED';
  reason?: string;
}

/** The targets of the 2-core reference machine. */
export const CRITERIA: readonly Criterion[] = [
  {
    target: 'c',
    label: 'throughput ≥ 0.75× (b) bare proxy',
    kind: 'throughput',
    baseline: 'b',
    limit: 0.75,
  },
  {
    target: 'c',
    label: 'throughput ≥ 10× (e) Portkey',
    kind: 'throughput',
    baseline: 'e',
    limit: 10,
  },
  { target: 'c', label: 'added p50 at 1 connection ≤ 0.35 ms', kind: 'added-p50', limit: 0.35 },
  {
    target: 'd',
    label: 'throughput ≥ 1.5× (b) bare proxy',
    kind: 'throughput',
    baseline: 'b',
    limit: 1.5,
  },
];

export function judge(
  rows: ReadonlyMap<TargetId, TargetRow>,
  throughput: ThroughputPhase,
): Verdict[] {
  return CRITERIA.map((criterion): Verdict => {
    const subject = rows.get(criterion.target) as TargetRow;
    const baseline = rows.get(criterion.baseline ?? 'a') as TargetRow;
    const involved = [subject, baseline];
    const skipped = involved.find((row) => row.skipped !== null);
    if (skipped !== undefined) {
      return { ...criterion, value: null, verdict: 'SKIPPED', reason: `(${skipped.id}) skipped` };
    }
    const value =
      criterion.kind === 'added-p50'
        ? subject.addedP50Ms
        : pairedRatio(subject, baseline, throughput);
    const invalid = involved.find((row) => row.problems.length > 0);
    if (invalid !== undefined || value === null || Number.isNaN(value)) {
      const reason = invalid === undefined ? 'not measured' : `(${invalid.id}) is INVALID`;
      return { ...criterion, value, verdict: 'INVALID', reason };
    }
    const pass =
      criterion.kind === 'added-p50' ? value <= criterion.limit : value >= criterion.limit;
    return { ...criterion, value, verdict: pass ? 'PASS' : 'FAIL' };
  });
}

const rate = (value: number | null): string =>
  value === null ? '—' : Math.round(value).toLocaleString('en-US');

const milliseconds = (value: number | null | undefined, signed = false): string =>
  value === null || value === undefined
    ? '—'
    : `${signed && value >= 0 ? '+' : ''}${value.toFixed(3)} ms`;

/** Requests/s of one round, for progress lines. */
export function formatRate(value: number | undefined): string {
  return rate(value ?? null);
}

export function printTable(rows: readonly TargetRow[], throughput: ThroughputPhase): void {
  const bare = rows.find((row) => row.id === 'b');
  const nameWidth = Math.max(36, ...rows.map((row) => row.name.length + 5));
  console.log(
    `\n${'target'.padEnd(nameWidth)}${'req/s @50'.padStart(11)}${'vs (b)'.padStart(9)}${'p50 @1'.padStart(11)}${'p99 @1'.padStart(11)}${'added p50'.padStart(12)}${'added p99'.padStart(12)}${'CPU/req'.padStart(10)}${'alloc/req'.padStart(11)}${'upstream/req'.padStart(14)}`,
  );
  for (const row of rows) {
    const label = `(${row.id}) ${row.name}`.padEnd(nameWidth);
    if (row.skipped !== null) {
      console.log(`${label}SKIPPED: ${row.skipped}`);
      continue;
    }
    const ratio =
      row.id === 'b'
        ? 'floor'
        : bare === undefined || bare.skipped !== null
          ? '—'
          : `${pairedRatio(row, bare, throughput).toFixed(2)}x`;
    const calls =
      row.upstreamCallsPerRequest === null ? '—' : row.upstreamCallsPerRequest.toFixed(2);
    const added = (value: number | null): string =>
      row.id === 'a' ? '—' : milliseconds(value, true);
    const cpu =
      row.cpuMicrosecondsPerRequest === null
        ? '—'
        : `${row.cpuMicrosecondsPerRequest.toFixed(0)} µs`;
    const allocated =
      row.allocatedBytesPerRequest === null
        ? '—'
        : `${(row.allocatedBytesPerRequest / 1_024).toFixed(1)} KB`;
    const flag = row.problems.length === 0 ? '' : `  INVALID: ${row.problems.join('; ')}`;
    console.log(
      `${label}${rate(row.requestsPerSecond).padStart(11)}${ratio.padStart(9)}${milliseconds(row.latency?.p50Ms).padStart(11)}${milliseconds(row.latency?.p99Ms).padStart(11)}${added(row.addedP50Ms).padStart(12)}${added(row.addedP99Ms).padStart(12)}${cpu.padStart(10)}${allocated.padStart(11)}${calls.padStart(14)}${flag}`,
    );
  }
}

export function printVerdicts(rows: readonly TargetRow[], verdicts: readonly Verdict[]): void {
  console.log('\ntargets (this machine, loopback, mock at zero latency):');
  for (const verdict of verdicts) {
    const value =
      verdict.value === null || Number.isNaN(verdict.value)
        ? '—'
        : verdict.kind === 'added-p50'
          ? `${verdict.value.toFixed(3)} ms`
          : `${verdict.value.toFixed(2)}x`;
    const reason = verdict.reason === undefined ? '' : `  (${verdict.reason})`;
    console.log(
      `  (${verdict.target}) ${verdict.label.padEnd(40)}${value.padStart(10)}  ${verdict.verdict}${reason}`,
    );
  }
  console.log('\nsummary:');
  for (const row of rows) {
    const own = verdicts.filter((verdict) => verdict.target === row.id);
    let summary: string;
    if (row.skipped !== null) summary = `SKIPPED: ${row.skipped}`;
    else if (row.problems.length > 0) summary = 'INVALID';
    else if (own.length === 0) summary = row.id === 'b' ? 'reference (the floor)' : 'reference';
    else {
      const judged = own.filter((verdict) => verdict.verdict !== 'SKIPPED');
      const passed = judged.filter((verdict) => verdict.verdict === 'PASS').length;
      const skipped = own.length - judged.length;
      summary = `${passed === judged.length ? 'PASS' : 'FAIL'} (${passed}/${judged.length} targets met${skipped > 0 ? `, ${skipped} skipped` : ''})`;
    }
    console.log(`  (${row.id}) ${row.name.padEnd(34)} ${summary}`);
  }
}
