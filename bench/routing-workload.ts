/**
 * The mixed workload of the routing benchmark's cost phase: a deterministic sequence of chat
 * completion requests of four kinds, the same for every run with the same seed.
 *
 * - `chat` (40 %): short questions, sometimes after a few earlier turns; `max_tokens` 64.
 * - `document` (20 %): summarise or compare a generated report of 1,500 to 9,000 words
 *   (about 2,000 to 12,000 tokens); `max_tokens` 256.
 * - `code` (25 %): a coding agent's turn: a fenced code block to fix, two to four tool
 *   definitions, sometimes a tool result in the conversation; `max_tokens` 512.
 * - `reasoning` (15 %): proofs, derivations and trade-off analyses, some asking for a JSON
 *   schema answer; `max_tokens` 512.
 *
 * About one request in five states a minimum quality (`x-sluice-min-quality`), as a caller
 * would for work it knows needs a stronger model: 0.7 for a customer-facing chat, 0.75 for a
 * legal document, 0.85 for production code, 0.9 for a proof.
 */
import { createRandom } from '../src/shared/random.js';

export type WorkloadKind = 'chat' | 'document' | 'code' | 'reasoning';

export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['chat', 'document', 'code', 'reasoning'];

export interface WorkloadRequest {
  readonly kind: WorkloadKind;
  /** The chat completion body, without `model`. */
  readonly body: Readonly<Record<string, unknown>>;
  /** Sent as `x-sluice-min-quality` when defined. */
  readonly minQuality: number | undefined;
}

/** Share of each kind, in order; they sum to 1. */
const MIX: readonly (readonly [WorkloadKind, number])[] = [
  ['chat', 0.4],
  ['document', 0.2],
  ['code', 0.25],
  ['reasoning', 0.15],
];

/** Share of requests that state a minimum quality, and the minimum each kind states. */
const STATED_SHARE = 0.2;
const STATED_MIN_QUALITY: Readonly<Record<WorkloadKind, number>> = {
  chat: 0.7,
  document: 0.75,
  code: 0.85,
  reasoning: 0.9,
};

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function between(random: Random, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

const COUNTRIES = ['France', 'Kenya', 'Chile', 'Japan', 'Norway', 'Canada', 'Egypt', 'Vietnam'];
const LANGUAGES = ['French', 'Spanish', 'German', 'Portuguese', 'Italian'];
const PHRASES = ['good morning', 'see you tomorrow', 'thank you very much', 'where is the station'];
const WORDS = ['happy', 'quick', 'bright', 'quiet', 'large', 'careful', 'brave'];
const NAMES = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret'];

function chat(random: Random): Record<string, unknown> {
  const question = pick<(r: Random) => string>(random, [
    (r) => `What is the capital of ${pick(r, COUNTRIES)}?`,
    (r) => `Translate '${pick(r, PHRASES)}' into ${pick(r, LANGUAGES)}.`,
    (r) => `Give me a synonym for '${pick(r, WORDS)}'.`,
    (r) => `Write a one-line birthday message for ${pick(r, NAMES)}.`,
    (r) => `How many days are there in ${pick(r, ['March', 'April', 'a leap-year February'])}?`,
  ])(random);
  const messages: Record<string, unknown>[] = [
    { role: 'system', content: 'You are a friendly assistant. Answer briefly.' },
  ];
  const earlier = random() < 0.3 ? between(random, 1, 3) : 0;
  for (let turn = 0; turn < earlier; turn++) {
    messages.push({ role: 'user', content: `What is the capital of ${pick(random, COUNTRIES)}?` });
    messages.push({ role: 'assistant', content: 'It is the largest city of the country.' });
  }
  messages.push({ role: 'user', content: question });
  return { messages, max_tokens: 64 };
}

const VOCABULARY = (
  'revenue quarter growth customers region margin costs pipeline contract supplier forecast ' +
  'the a of to and in that with for on by from at this which each other more most ' +
  'increased decreased remained stable rose fell improved declined expanded reduced ' +
  'team product market sales operations logistics support churn retention pricing ' +
  'during after before because while although since across within between'
).split(' ');

function documentText(random: Random, words: number): string {
  const sentences: string[] = [];
  let written = 0;
  let section = 1;
  while (written < words) {
    if (written % 400 < 12) sentences.push(`\n\nSection ${section++}.`);
    const length = between(random, 8, 20);
    const sentence: string[] = [];
    for (let index = 0; index < length; index++) sentence.push(pick(random, VOCABULARY));
    sentence.push(String(between(random, 1, 999)));
    const first = sentence[0] as string;
    sentence[0] = first.charAt(0).toUpperCase() + first.slice(1);
    sentences.push(`${sentence.join(' ')}.`);
    written += length + 1;
  }
  return sentences.join(' ');
}

function document(random: Random): Record<string, unknown> {
  const words = between(random, 1_500, 9_000);
  const task =
    random() < 0.3
      ? 'Compare the two halves of this report and explain why the margin changed.'
      : 'Summarize the following report in five bullet points.';
  return {
    messages: [
      { role: 'system', content: 'You summarise business documents for executives.' },
      { role: 'user', content: `${task}\n\n${documentText(random, words)}` },
    ],
    max_tokens: 256,
  };
}

const TOOLS = [
  {
    name: 'read_file',
    description: 'Read a file of the repository',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
  {
    name: 'write_file',
    description: 'Write a file of the repository',
    parameters: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
  },
  {
    name: 'run_tests',
    description: 'Run the test suite and return the failures',
    parameters: { type: 'object', properties: { filter: { type: 'string' } } },
  },
  {
    name: 'search_code',
    description: 'Search the repository for a regular expression',
    parameters: {
      type: 'object',
      properties: { pattern: { type: 'string' } },
      required: ['pattern'],
    },
  },
];

const SNIPPETS = [
  'export function total(items: Item[]): number {\n  let sum = 0;\n  for (let i = 0; i <= items.length; i++) sum += items[i].price;\n  return sum;\n}',
  'def average(values):\n    return sum(values) / len(values) if values else None\n\nprint(average([]))',
  'const users = await db.query("SELECT * FROM users WHERE id = " + id);\nreturn users[0];',
  'function debounce(fn, ms) {\n  let timer;\n  return (...args) => { clearTimeout(timer); timer = setTimeout(fn(...args), ms); };\n}',
];

function code(random: Random): Record<string, unknown> {
  const tools = TOOLS.slice(0, between(random, 2, 4)).map((tool) => ({
    type: 'function',
    function: tool,
  }));
  const snippet = pick(random, SNIPPETS);
  const messages: Record<string, unknown>[] = [
    { role: 'system', content: 'You are a coding agent. Use the tools to inspect and fix code.' },
    {
      role: 'user',
      content: `The tests fail on this function. Find the bug and fix it:\n\n\`\`\`\n${snippet}\n\`\`\``,
    },
  ];
  if (random() < 0.4) {
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'run_tests', arguments: '{"filter":"total"}' },
        },
      ],
    });
    messages.push({
      role: 'tool',
      tool_call_id: 'call_1',
      content: 'FAIL total > sums prices: TypeError: Cannot read properties of undefined',
    });
  }
  return { messages, tools, max_tokens: 512 };
}

const PROOFS = [
  'Prove step by step that the sum of the first n odd numbers is n^2.',
  'Derive the probability that two dice sum to 7, then prove the result by enumeration.',
  'Prove that the square root of 2 is irrational. Be rigorous.',
  'Derive the derivative of x^x and show each step.',
  'Evaluate the trade-offs between optimistic and pessimistic locking for a booking system.',
  'Compare two caching strategies for a read-heavy API and justify the one you recommend.',
];

function reasoning(random: Random): Record<string, unknown> {
  const body: Record<string, unknown> = {
    messages: [
      { role: 'system', content: 'You are a careful analyst. Think before you answer.' },
      { role: 'user', content: pick(random, PROOFS) },
    ],
    max_tokens: 512,
  };
  if (random() < 0.3) {
    body.response_format = {
      type: 'json_schema',
      json_schema: {
        name: 'answer',
        schema: {
          type: 'object',
          properties: { steps: { type: 'array', items: { type: 'string' } }, result: {} },
          required: ['steps', 'result'],
        },
      },
    };
  }
  return body;
}

const BUILDERS: Readonly<Record<WorkloadKind, (random: Random) => Record<string, unknown>>> = {
  chat,
  document,
  code,
  reasoning,
};

/** `count` requests of the mixed workload, the same for the same seed. */
export function mixedWorkload(count: number, seed = 20_260_101): WorkloadRequest[] {
  const random = createRandom(seed);
  const requests: WorkloadRequest[] = [];
  for (let index = 0; index < count; index++) {
    let draw = random();
    let kind: WorkloadKind = 'chat';
    for (const [candidate, share] of MIX) {
      kind = candidate;
      if (draw < share) break;
      draw -= share;
    }
    const stated = random() < STATED_SHARE;
    requests.push({
      kind,
      body: BUILDERS[kind](random),
      minQuality: stated ? STATED_MIN_QUALITY[kind] : undefined,
    });
  }
  return requests;
}
