import os from 'node:os';

/** Where a benchmark ran: printed in its header and written with its figures. */
export interface MachineEnvironment {
  date: string;
  node: string;
  v8: string;
  cpu: string;
  cores: number;
  platform: string;
  arch: string;
  totalMemoryGb: number;
}

export function machineEnvironment(): MachineEnvironment {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    platform: os.platform(),
    arch: os.arch(),
    totalMemoryGb: Math.round(os.totalmem() / 2 ** 30),
  };
}

/** The first line of every suite's output: suite, date, Node, CPU and cores, platform. */
export function headerLine(suite: string, environment: MachineEnvironment, quick: boolean): string {
  const { date, node, cpu, cores, platform, arch } = environment;
  return `sluice bench ${suite} — ${date} — Node ${node} — ${cpu} × ${cores} cores — ${platform}/${arch}${quick ? ' — QUICK' : ''}`;
}
