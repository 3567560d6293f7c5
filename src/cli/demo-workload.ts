/**
 * The agent workload `sluice demo` replays: three kinds of agents whose sessions repeat
 * popular questions word for word, reword some of them, run multi-turn conversations and
 * call tools. Deterministic for a seed, so two runs measure the same traffic.
 */
import { createRandom } from '../shared/random.js';

export interface DemoMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface DemoTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** One scripted session: its turns are sent in order, each with the history so far. */
export interface DemoSession {
  readonly agent: 'support' | 'research' | 'coding';
  readonly system: string;
  readonly turns: readonly string[];
  readonly tools: readonly DemoTool[] | undefined;
  readonly stream: boolean;
}

/**
 * Support questions: the common wording, a light rewording (what most users who do not copy
 * the FAQ type) and a heavy one.
 */
const SUPPORT_QUESTIONS: readonly (readonly [string, string, string])[] = [
  [
    'How do I reset my password?',
    'How can I reset my password?',
    'I forgot my password, how can I reset it?',
  ],
  [
    'What are your support hours?',
    'When are your support hours?',
    'When is customer support available?',
  ],
  [
    'How do I cancel my subscription?',
    'How can I cancel my subscription?',
    'How can I stop my subscription from renewing?',
  ],
  [
    'Can I change the email address on my account?',
    'Can I change my account email address?',
    'How do I update my account email?',
  ],
  ['Do you offer refunds?', 'Do you offer a refund?', 'What is your refund policy?'],
  ['How do I export my data?', 'How can I export my data?', 'Can I download all of my data?'],
  [
    'Is two-factor authentication supported?',
    'Do you support two-factor authentication?',
    'How do I turn on 2FA?',
  ],
  [
    'What payment methods do you accept?',
    'Which payment methods do you accept?',
    'Can I pay with PayPal?',
  ],
  [
    'How do I invite a teammate?',
    'How can I invite a teammate?',
    'How can I add another user to my workspace?',
  ],
  [
    'Where can I find my invoices?',
    'Where do I find my invoices?',
    'How do I get a copy of last month’s invoice?',
  ],
  [
    'Why was my card declined?',
    'Why did my card get declined?',
    'My payment failed, what should I do?',
  ],
  [
    'How do I delete my account?',
    'How can I delete my account?',
    'Can you remove my account permanently?',
  ],
];

const RESEARCH_TOPICS: readonly string[] = [
  'the population of Lisbon',
  'the boiling point of ethanol',
  'the distance from the Earth to the Moon',
  'the year the transistor was invented',
  'the tallest building in Europe',
  'the speed of sound in water',
];

const CODING_TASKS: readonly (readonly string[])[] = [
  [
    'Write a TypeScript function that debounces another function.',
    'Now add a cancel method to it.',
    'Add a unit test with fake timers.',
  ],
  [
    'Explain what a Bloom filter is in two sentences.',
    'What false-positive rate do 10 bits per key give?',
  ],
  [
    'Write a SQL query for the ten customers with the highest total order value.',
    'Rewrite it to include customers with no orders.',
  ],
  ['How do I read a file line by line in Node.js?', 'And how do I do it with async iterators?'],
];

const SEARCH_TOOL: DemoTool = {
  type: 'function',
  function: {
    name: 'web_search',
    description: 'Search the web and return the top result snippet',
    parameters: {
      type: 'object',
      properties: { query: { type: 'string' } },
      required: ['query'],
    },
  },
};

/** An index skewed towards the start (popular items), Zipf-like with exponent ~1. */
function popular(random: () => number, size: number): number {
  return Math.min(size - 1, Math.floor(size ** random()) - 1);
}

/** Builds `sessionCount` sessions mixing the three agents (half support, a quarter each other). */
export function demoSessions(sessionCount: number, seed = 7): DemoSession[] {
  const random = createRandom(seed);
  const sessions: DemoSession[] = [];
  for (let index = 0; index < sessionCount; index++) {
    const pick = random();
    if (pick < 0.5) {
      const turns: string[] = [];
      const count = 1 + Math.floor(random() * 3);
      for (let turn = 0; turn < count; turn++) {
        const variants = SUPPORT_QUESTIONS[popular(random, SUPPORT_QUESTIONS.length)];
        // Most users type the common wording; one in five rewords it lightly, one in ten heavily.
        const draw = random();
        const wording = draw < 0.7 ? 0 : draw < 0.9 ? 1 : 2;
        turns.push(variants?.[wording] ?? 'Hello');
      }
      sessions.push({
        agent: 'support',
        system: 'You are the support assistant of Acme Cloud. Answer briefly and accurately.',
        turns,
        tools: undefined,
        stream: random() < 0.5,
      });
    } else if (pick < 0.75) {
      const topic = RESEARCH_TOPICS[popular(random, RESEARCH_TOPICS.length)] ?? 'the weather';
      sessions.push({
        agent: 'research',
        system: 'You are a research agent. Use web_search to check facts before answering.',
        turns: [`Find ${topic} and cite the source.`],
        tools: [SEARCH_TOOL],
        stream: false,
      });
    } else {
      const task = CODING_TASKS[popular(random, CODING_TASKS.length)] ?? [];
      sessions.push({
        agent: 'coding',
        system: 'You are a senior software engineer. Answer with concise code and explanations.',
        turns: task,
        tools: undefined,
        stream: random() < 0.5,
      });
    }
  }
  return sessions;
}

/** The deterministic result the demo's web_search tool returns for a query. */
export function searchResult(query: string): string {
  return `Top result for "${query.slice(0, 80)}": see the encyclopedia entry (retrieved for the demo).`;
}
