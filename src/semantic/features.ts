/**
 * Text analysis behind the verifier: what must agree between a cached request and a new
 * one for the cached answer to fit — numbers and units, negation, named entities, order and
 * direction, quoted strings, code identifiers — plus cheap lexical overlap. Each request is
 * analysed once (`analyzeText`); a candidate pair is compared with `comparePair`.
 */

import { editDistance } from '../shared/edit-distance.js';

/** A look-alike check that can refuse a hit on its own. */
export type GuardName = 'numbers' | 'negation' | 'entities' | 'direction' | 'quoted' | 'code';

export const GUARD_NAMES: readonly GuardName[] = [
  'numbers',
  'negation',
  'entities',
  'direction',
  'quoted',
  'code',
];

/** Names of the verifier's model inputs, in order (the fitted weights follow this order). */
export const FEATURE_NAMES = [
  'similarity',
  'similaritySquared',
  'numberMismatch',
  'entityOverlap',
  'entitySubstitution',
  'negationMismatch',
  'directionMismatch',
  'quotedMismatch',
  'codeMismatch',
  'lengthRatio',
  'tokenJaccard',
  'similarityTimesJaccard',
  'orderInversion',
  'swappedWords',
  'addedWords',
  'oneSwap',
  'twoSwaps',
] as const;

export interface TextAnalysis {
  /** Lower-cased word tokens in order. */
  readonly words: readonly string[];
  readonly wordSet: ReadonlySet<string>;
  /** Lower-cased letters and digits only, for containment checks across spacing/punctuation. */
  readonly compact: string;
  /** Crudely stemmed content words (stop words removed). */
  readonly content: ReadonlySet<string>;
  /** `value` or `value unit`, sorted. */
  readonly numbers: readonly Quantity[];
  readonly negations: number;
  /** Lower-cased named-entity tokens (capitalised words, acronyms, brand casing). */
  readonly entities: readonly string[];
  /** Lower-cased initials of each word, for acronym expansion. */
  readonly initials: string;
  /** Entities written in capitals (NASA, HF), lower-cased. */
  readonly acronyms: ReadonlySet<string>;
  /** Content-word stems in text order (for order inversions). */
  readonly sequence: readonly string[];
  readonly quoted: readonly string[];
  readonly code: readonly string[];
  /** Lower-cased raw text with whitespace collapsed. */
  readonly lowerText: string;
  readonly rawText: string;
  /** `pairIndex:side` for each polar word present (increase/decrease, buy/sell, ...). */
  readonly polar: ReadonlySet<string>;
  /** Ordered relations: `source>target` (from X to Y, X to Y, X than Y). */
  readonly directed: ReadonlySet<string>;
  /** `to:term` / `from:term` attachments. */
  readonly attachments: ReadonlySet<string>;
}

export interface Quantity {
  value: number;
  unit: string | undefined;
}

export interface PairComparison {
  /** Model inputs in `FEATURE_NAMES` order. */
  features: number[];
  /** Guards that found a mismatch, in `GUARD_NAMES` order. */
  guards: GuardName[];
}

// ------------------------------------------------------------------ lexicons

const STOP_WORDS = new Set(
  `a an the and or but if of in on at to for from by with about as into onto over under than then so
  is are was were be been being am do does did done doing have has had having can could should would
  will shall may might must i me my mine we us our you your yours he him his she her it its they them
  their this that these those what which who whom whose when where why how there here not no yes
  some any all each every most more much many few other another such own same very just also only
  way ways best good better get got make makes one ones thing things really possible someone something
  anyone anything people person know tell give use using used find want need like please vs versus`
    .split(/\s+/)
    .filter((word) => word.length > 0),
);

/** Sentence-initial words that are never names (question and imperative openers). */
const OPENERS = new Set(
  `what which who whom whose when where why how is are was were do does did can could should would
  will shall may might must have has had i my we our you your it its they their this that these
  those there here please tell give show list explain describe write find get make convert compare
  calculate translate summarize summarise define name let if in on at for from to by with the a an
  any some all each every no not`
    .split(/\s+/)
    .filter((word) => word.length > 0),
);

const NEGATIONS = new Set([
  'not',
  'no',
  'never',
  'none',
  'nobody',
  'nothing',
  'neither',
  'nor',
  'without',
  'cannot',
  'nowhere',
  'dont',
  'doesnt',
  'didnt',
  'cant',
  'wont',
  'isnt',
  'arent',
  'wasnt',
  'werent',
  'shouldnt',
  'wouldnt',
  'couldnt',
  'havent',
  'hasnt',
]);

/** Canonical unit for each spelling. */
const UNITS: Record<string, string> = {};
const unitGroups: Record<string, string[]> = {
  celsius: ['c', '°c', 'celsius', 'centigrade', 'celcius'],
  fahrenheit: ['f', '°f', 'fahrenheit', 'farenheit'],
  kelvin: ['k', 'kelvin', 'kelvins'],
  km: ['km', 'kms', 'kilometer', 'kilometers', 'kilometre', 'kilometres'],
  m: ['m', 'meter', 'meters', 'metre', 'metres'],
  cm: ['cm', 'centimeter', 'centimeters', 'centimetre', 'centimetres'],
  mm: ['mm', 'millimeter', 'millimeters', 'millimetre', 'millimetres'],
  mile: ['mi', 'mile', 'miles'],
  ft: ['ft', 'foot', 'feet'],
  inch: ['in', 'inch', 'inches'],
  yard: ['yd', 'yard', 'yards'],
  kg: ['kg', 'kgs', 'kilogram', 'kilograms', 'kilo', 'kilos'],
  g: ['g', 'gram', 'grams', 'gramme', 'grammes'],
  lb: ['lb', 'lbs', 'pound', 'pounds'],
  oz: ['oz', 'ounce', 'ounces'],
  l: ['l', 'liter', 'liters', 'litre', 'litres'],
  ml: ['ml', 'milliliter', 'milliliters', 'millilitre', 'millilitres'],
  gallon: ['gal', 'gallon', 'gallons'],
  second: ['s', 'sec', 'secs', 'second', 'seconds'],
  minute: ['min', 'mins', 'minute', 'minutes'],
  hour: ['h', 'hr', 'hrs', 'hour', 'hours'],
  day: ['day', 'days'],
  week: ['week', 'weeks', 'wk', 'wks'],
  month: ['month', 'months'],
  year: ['yr', 'yrs', 'year', 'years'],
  percent: ['%', 'percent', 'per cent', 'pct'],
  usd: ['$', 'usd', 'dollar', 'dollars', 'bucks'],
  eur: ['€', 'eur', 'euro', 'euros'],
  gbp: ['£', 'gbp', 'pound sterling'],
  inr: ['₹', 'inr', 'rupee', 'rupees', 'rs'],
  jpy: ['¥', 'jpy', 'yen'],
  byte: ['b', 'byte', 'bytes'],
  kb: ['kb', 'kilobyte', 'kilobytes'],
  mb: ['mb', 'megabyte', 'megabytes'],
  gb: ['gb', 'gig', 'gigs', 'gigabyte', 'gigabytes'],
  tb: ['tb', 'terabyte', 'terabytes'],
  mph: ['mph'],
  kmh: ['kmh', 'km/h', 'kph'],
  mhz: ['mhz'],
  ghz: ['ghz'],
  watt: ['w', 'watt', 'watts'],
  kw: ['kw', 'kilowatt', 'kilowatts'],
  volt: ['v', 'volt', 'volts'],
  calorie: ['cal', 'kcal', 'calorie', 'calories'],
};
for (const [canonical, spellings] of Object.entries(unitGroups)) {
  for (const spelling of spellings) UNITS[spelling] = canonical;
}
const UNIT_NAMES = new Set(Object.keys(unitGroups));
/** Units that also name things without a number (for direction: "Celsius to Fahrenheit"). */
const NAMED_UNITS = new Set(
  Object.entries(UNITS)
    .filter(([spelling]) => spelling.length > 3)
    .map(([spelling]) => spelling),
);

const NUMBER_WORDS: Record<string, number> = {
  zero: 0,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
  hundred: 100,
  thousand: 1_000,
  million: 1_000_000,
  billion: 1_000_000_000,
  dozen: 12,
  half: 0.5,
};

/** Opposite pairs: one side in one text and only the other side in the other means a different question. */
const POLAR_PAIRS: ReadonlyArray<readonly [readonly string[], readonly string[]]> = [
  [
    ['increase', 'increases', 'increasing', 'increased', 'raise', 'raising'],
    ['decrease', 'decreases', 'decreasing', 'decreased', 'reduce', 'reducing', 'lower', 'lowering'],
  ],
  [
    ['buy', 'buying', 'bought', 'purchase', 'purchasing'],
    ['sell', 'selling', 'sold'],
  ],
  [['before'], ['after']],
  [['above'], ['below']],
  [['over'], ['under']],
  [
    ['import', 'importing', 'imports'],
    ['export', 'exporting', 'exports'],
  ],
  [
    ['upload', 'uploading', 'uploads'],
    ['download', 'downloading', 'downloads'],
  ],
  [
    ['encrypt', 'encrypting', 'encryption'],
    ['decrypt', 'decrypting', 'decryption'],
  ],
  [
    ['encode', 'encoding'],
    ['decode', 'decoding'],
  ],
  [
    ['push', 'pushing'],
    ['pull', 'pulling'],
  ],
  [
    ['ascending', 'asc'],
    ['descending', 'desc'],
  ],
  [
    ['add', 'adding', 'insert', 'inserting'],
    ['remove', 'removing', 'delete', 'deleting'],
  ],
  [
    ['enable', 'enabling', 'enabled', 'activate'],
    ['disable', 'disabling', 'disabled', 'deactivate'],
  ],
  [
    ['win', 'winning', 'won', 'winner'],
    ['lose', 'losing', 'lost', 'loser'],
  ],
  [
    ['maximum', 'max', 'maximise', 'maximize', 'largest', 'biggest', 'highest'],
    ['minimum', 'min', 'minimise', 'minimize', 'smallest', 'lowest'],
  ],
  [
    ['higher', 'larger', 'bigger', 'greater', 'more'],
    ['lower', 'smaller', 'less', 'fewer'],
  ],
  [['faster', 'quicker'], ['slower']],
  [['most'], ['least']],
  [['best'], ['worst']],
  [
    ['cheapest', 'cheaper'],
    ['expensive', 'pricier'],
  ],
  [['positive'], ['negative']],
  [['true'], ['false']],
  [
    ['input', 'inputs'],
    ['output', 'outputs'],
  ],
  [
    ['inside', 'internal'],
    ['outside', 'external'],
  ],
  [['left'], ['right']],
  [
    ['north', 'northern'],
    ['south', 'southern'],
  ],
  [
    ['east', 'eastern'],
    ['west', 'western'],
  ],
  [
    ['start', 'starting', 'begin', 'beginning'],
    ['stop', 'stopping', 'end', 'ending', 'finish'],
  ],
  [['first'], ['last']],
  [
    ['open', 'opening'],
    ['close', 'closing'],
  ],
  [
    ['lend', 'lending'],
    ['borrow', 'borrowing'],
  ],
  [
    ['send', 'sending', 'sent'],
    ['receive', 'receiving', 'received'],
  ],
  [
    ['male', 'men', 'man', 'boy', 'boys', 'husband'],
    ['female', 'women', 'woman', 'girl', 'girls', 'wife'],
  ],
  [
    ['older', 'oldest', 'elder'],
    ['younger', 'youngest'],
  ],
  [['yesterday'], ['tomorrow']],
  [['past'], ['future']],
  [
    ['advantage', 'advantages', 'pros', 'benefits'],
    ['disadvantage', 'disadvantages', 'cons', 'drawbacks'],
  ],
  [['legal'], ['illegal']],
  [['possible'], ['impossible']],
  [
    ['like', 'love'],
    ['dislike', 'hate'],
  ],
  [
    ['rich', 'richest'],
    ['poor', 'poorest'],
  ],
  [
    ['hot', 'hottest', 'warm'],
    ['cold', 'coldest', 'cool'],
  ],
  [
    ['long', 'longer', 'longest'],
    ['short', 'shorter', 'shortest'],
  ],
  [
    ['up', 'upward', 'upwards'],
    ['down', 'downward', 'downwards'],
  ],
];
const POLAR_OF = new Map<string, string>();
POLAR_PAIRS.forEach(([first, second], index) => {
  for (const word of first) POLAR_OF.set(word, `${index}:0`);
  for (const word of second) POLAR_OF.set(word, `${index}:1`);
});

// ------------------------------------------------------------------ analysis

interface Token {
  text: string;
  lower: string;
  start: number;
  sentenceStart: boolean;
}

const TOKEN_PATTERN = /[\p{L}\p{N}$€£¥₹%°#+]+(?:['’.\-_/][\p{L}\p{N}]+)*[%+#]?/gu;
const QUOTE_PATTERN =
  /"([^"\n]{1,200})"|“([^”\n]{1,200})”|‘([^’\n]{1,200})’|(?:^|[\s(])'([^'\n]{1,200})'(?=[\s).,?!:;]|$)/g;
const BACKTICK_PATTERN = /`([^`\n]{1,200})`/g;
const CALL_PATTERN = /\b([A-Za-z_][\w.]*)\(\s*\)/g;
const FLAG_PATTERN = /(?:^|\s)(--?[A-Za-z][\w-]*)/g;
const NUMBER_PATTERN =
  /(?:([$€£¥₹])\s?)?([-+]?\d[\d,]*(?:\.\d+)?)(?:st|nd|rd|th)?\s?(%|°\s?[cfCF]\b|[A-Za-z/]+(?:\s(?:celsius|fahrenheit|centigrade|kelvin))?)?/g;

export function analyzeText(rawText: string): TextAnalysis {
  const text = rawText.normalize('NFKC').replace(/\s*(?:->|→|=>)\s*/g, ' to ');
  const tokens = tokenize(text);
  const words = tokens.map((token) => token.lower.replace(/['’]s$/, ''));
  const wordSet = new Set(words);
  const compact = compactForm(text);

  const content = new Set<string>();
  for (const word of words) {
    if (STOP_WORDS.has(word)) continue;
    content.add(stem(word));
  }

  let negations = 0;
  for (const token of tokens) {
    const bare = token.lower.replace(/['’]/g, '');
    if (NEGATIONS.has(bare) || /n['’]t$/.test(token.lower)) negations++;
  }

  // Title Case ("What Is The Best Way To ...") says nothing about names: small words give it away.
  const smallWords = tokens.slice(1).filter((token) => STOP_WORDS.has(token.lower));
  const titleCase =
    smallWords.length >= 2 &&
    smallWords.filter((token) => /^\p{Lu}/u.test(token.text)).length > 0.5 * smallWords.length;
  const entities: string[] = [];
  const entityAt = new Set<number>();
  const acronyms = new Set<string>();
  tokens.forEach((token, index) => {
    if (isEntity(token, tokens[index + 1], titleCase)) {
      entities.push(words[index] as string);
      entityAt.add(index);
      if (/^\p{Lu}{2,6}s?$/u.test(token.text)) acronyms.add(words[index] as string);
    }
  });
  const sequence = words.filter((word) => !STOP_WORDS.has(word)).map(stem);

  const code = new Set<string>();
  for (const match of text.matchAll(BACKTICK_PATTERN)) code.add((match[1] as string).trim());
  for (const match of text.matchAll(CALL_PATTERN)) code.add(match[1] as string);
  for (const match of text.matchAll(FLAG_PATTERN)) code.add(match[1] as string);
  for (const token of tokens) {
    const word = token.text.replace(/[.]$/, '');
    if (
      /^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+$/.test(word) ||
      /^_+[A-Za-z]\w*$/.test(word) ||
      /^[a-z]+[A-Z][A-Za-z0-9]*$/.test(word) ||
      /^[A-Za-z_]\w+(?:\.[A-Za-z_]\w+)+$/.test(word)
    ) {
      code.add(word);
    }
  }

  const quoted: string[] = [];
  for (const match of text.matchAll(QUOTE_PATTERN)) {
    const inner = (match[1] ?? match[2] ?? match[3] ?? match[4] ?? '').trim();
    if (inner.length > 0) quoted.push(inner.toLowerCase().replace(/\s+/g, ' '));
  }

  // Key terms for direction: entities and unit names, by token index.
  const terms = new Map<number, string>();
  tokens.forEach((_token, index) => {
    const word = words[index] as string;
    if (entityAt.has(index)) terms.set(index, word);
    else if (NAMED_UNITS.has(word)) terms.set(index, UNITS[word] as string);
  });
  for (const [index, word] of terms) {
    const unit = UNITS[word];
    if (unit !== undefined) terms.set(index, unit);
  }

  const polar = new Set<string>();
  for (const word of words) {
    const side = POLAR_OF.get(word);
    if (side !== undefined) polar.add(side);
  }

  return {
    words,
    wordSet,
    compact,
    content,
    numbers: extractNumbers(text, words),
    negations,
    entities,
    initials: words.map((word) => word[0] ?? '').join(''),
    acronyms,
    sequence,
    quoted,
    code: [...code],
    lowerText: text.toLowerCase().replace(/\s+/g, ' '),
    rawText: text,
    polar,
    ...directions(words, terms),
  };
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const match of text.matchAll(TOKEN_PATTERN)) {
    const start = match.index ?? 0;
    const before = text.slice(Math.max(0, start - 3), start).trimEnd();
    const sentenceStart = tokens.length === 0 || /[.?!:;\n"“(]$/.test(before);
    tokens.push({ text: match[0], lower: match[0].toLowerCase(), start, sentenceStart });
  }
  return tokens;
}

function isEntity(token: Token, next: Token | undefined, titleCase: boolean): boolean {
  const word = token.text.replace(/['’]s$/, '');
  // Words of scripts the embedding model barely knows are opaque: treat them as names.
  if (/[^\p{Script=Latin}\p{N}\p{P}\p{S}]/u.test(word)) return true;
  if (word.length < 2 || /^\d/.test(word)) return false;
  const acronym =
    /^[\p{Lu}\d]{2,8}s?$/u.test(word) && /\p{Lu}.*\p{Lu}|\p{Lu}\d|\d\p{Lu}/u.test(word);
  const innerCaps = /^\p{L}+\p{Lu}/u.test(word) && /\p{Ll}/u.test(word); // iPhone, JavaScript, PyTorch
  const mixed = /\p{L}/u.test(word) && /\d/.test(word); // GPT4, A320
  if (acronym || innerCaps || mixed) return true;
  if (!/^\p{Lu}/u.test(word) || titleCase) return false;
  const lower = word.toLowerCase();
  if (STOP_WORDS.has(lower) || OPENERS.has(lower)) return false;
  if (!token.sentenceStart) return true;
  // A capitalised first word is a name only when a capitalised word follows (Hugging Face).
  return next !== undefined && /^\p{Lu}/u.test(next.text) && !next.sentenceStart;
}

function extractNumbers(text: string, words: readonly string[]): Quantity[] {
  const quantities: Quantity[] = [];
  for (const match of text.matchAll(NUMBER_PATTERN)) {
    const start = match.index ?? 0;
    const previous = start > 0 ? text[start - 1] : '';
    if (previous !== undefined && /[\p{L}_]/u.test(previous)) continue; // part of a word (A320, mp3)
    const value = Number((match[2] as string).replace(/,/g, ''));
    if (!Number.isFinite(value)) continue;
    let unit: string | undefined;
    if (match[1] !== undefined) unit = UNITS[match[1]];
    const suffix = match[3]?.toLowerCase().replace(/\s+/g, ' ');
    if (unit === undefined && suffix !== undefined) {
      const parts = suffix.replace('°', '').split(' ');
      const last = parts[parts.length - 1] as string;
      unit = UNITS[suffix.replace('°', '°')] ?? UNITS[last] ?? UNITS[suffix.replace(/^°\s?/, '')];
      if (parts[0] === 'degree' || parts[0] === 'degrees') unit = UNITS[last] ?? 'degree';
    }
    quantities.push({ value, unit });
  }
  for (const word of words) {
    const value = NUMBER_WORDS[word];
    if (value !== undefined) quantities.push({ value, unit: undefined });
  }
  quantities.sort((left, right) => left.value - right.value);
  return quantities;
}

function directions(
  words: readonly string[],
  terms: ReadonlyMap<number, string>,
): { directed: Set<string>; attachments: Set<string> } {
  const directed = new Set<string>();
  const attachments = new Set<string>();
  const termAfter = (from: number, span: number): [number, string] | undefined => {
    for (let index = from + 1; index <= from + span && index < words.length; index++) {
      const term = terms.get(index);
      if (term !== undefined) return [index, term];
    }
    return undefined;
  };
  const termBefore = (from: number, span: number): [number, string] | undefined => {
    for (let index = from - 1; index >= from - span && index >= 0; index--) {
      const term = terms.get(index);
      if (term !== undefined) return [index, term];
    }
    return undefined;
  };
  const usedTo = new Set<number>();
  words.forEach((word, index) => {
    if (word === 'from') {
      const source = termAfter(index, 3);
      if (source === undefined) return;
      attachments.add(`from:${source[1]}`);
      for (let look = source[0] + 1; look <= source[0] + 4 && look < words.length; look++) {
        if (words[look] === 'to' || words[look] === 'into') {
          const target = termAfter(look, 3);
          if (target !== undefined) {
            directed.add(`${source[1]}>${target[1]}`);
            usedTo.add(look);
          }
          return;
        }
      }
      for (let look = index - 1; look >= index - 4 && look >= 0; look--) {
        if (words[look] === 'to' || words[look] === 'into') {
          const target = termAfter(look, 3);
          if (target !== undefined && target[0] < index) {
            directed.add(`${source[1]}>${target[1]}`);
            usedTo.add(look);
          }
          return;
        }
      }
    }
  });
  words.forEach((word, index) => {
    if ((word === 'to' || word === 'into' || word === 'in') && !usedTo.has(index)) {
      const target = termAfter(index, 2);
      if (target === undefined) return;
      if (word === 'in' && !UNIT_NAMES.has(target[1])) return; // "100 Celsius in Fahrenheit" only
      if (word !== 'in') attachments.add(`to:${target[1]}`);
      const source = termBefore(index, 3);
      if (source !== undefined && source[1] !== target[1])
        directed.add(`${source[1]}>${target[1]}`);
    } else if (word === 'than') {
      const source = termBefore(index, 5);
      const target = termAfter(index, 3);
      if (source !== undefined && target !== undefined && source[1] !== target[1]) {
        directed.add(`${source[1]}>${target[1]}`);
      }
    }
  });
  return { directed, attachments };
}

// ------------------------------------------------------------------ comparison

export function comparePair(
  left: TextAnalysis,
  right: TextAnalysis,
  similarity: number,
): PairComparison {
  const guards: GuardName[] = [];
  const numberMismatch = quantitiesDiffer(left.numbers, right.numbers);
  if (numberMismatch) guards.push('numbers');
  const negationMismatch = left.negations > 0 !== right.negations > 0;
  if (negationMismatch) guards.push('negation');

  const leftUnmatched = unmatchedEntities(left, right);
  const rightUnmatched = unmatchedEntities(right, left);
  const entityTotal = left.entities.length + right.entities.length;
  const entityOverlap = entityTotal === 0 ? 1 : 1 - (leftUnmatched + rightUnmatched) / entityTotal;
  const entitySubstitution = leftUnmatched > 0 && rightUnmatched > 0;
  if (entitySubstitution) guards.push('entities');

  const order = orderInversions(left, right);
  const directionMismatch = directionsDiffer(left, right) || order.marked;
  if (directionMismatch) guards.push('direction');
  const quotedMismatch =
    left.quoted.some((quote) => !right.lowerText.includes(quote)) ||
    right.quoted.some((quote) => !left.lowerText.includes(quote));
  if (quotedMismatch) guards.push('quoted');
  const codeMismatch =
    left.code.some((identifier) => !containsIdentifier(right, identifier)) ||
    right.code.some((identifier) => !containsIdentifier(left, identifier));
  if (codeMismatch) guards.push('code');

  const lengthRatio =
    Math.min(left.words.length, right.words.length) /
    Math.max(1, left.words.length, right.words.length);
  const tokenJaccard = jaccard(left.content, right.content);
  const { swapped, added } = wordChanges(left.content, right.content);
  return {
    features: [
      similarity,
      similarity * similarity,
      numberMismatch ? 1 : 0,
      entityOverlap,
      entitySubstitution ? 1 : 0,
      negationMismatch ? 1 : 0,
      directionMismatch ? 1 : 0,
      quotedMismatch ? 1 : 0,
      codeMismatch ? 1 : 0,
      lengthRatio,
      tokenJaccard,
      similarity * tokenJaccard,
      order.share,
      Math.min(swapped, 4),
      Math.min(added, 4),
      // A minimal edit (one or two words replaced, little else) is the look-alike signature.
      swapped === 1 && added <= 1 ? 1 : 0,
      swapped === 2 && added <= 1 ? 1 : 0,
    ],
    guards,
  };
}

function quantitiesDiffer(left: readonly Quantity[], right: readonly Quantity[]): boolean {
  if (left.length === 0 && right.length === 0) return false;
  const leftValues = distinctValues(left);
  const rightValues = distinctValues(right);
  if (leftValues.size !== rightValues.size) return true;
  for (const [value, leftUnits] of leftValues) {
    const rightUnits = rightValues.get(value);
    if (rightUnits === undefined) return true;
    // Both name a unit for this value and none in common: 100 °C against 100 °F.
    if (
      leftUnits.size > 0 &&
      rightUnits.size > 0 &&
      ![...leftUnits].some((unit) => rightUnits.has(unit))
    )
      return true;
  }
  return false;
}

function distinctValues(quantities: readonly Quantity[]): Map<number, Set<string>> {
  const values = new Map<number, Set<string>>();
  for (const { value, unit } of quantities) {
    let units = values.get(value);
    if (units === undefined) {
      units = new Set();
      values.set(value, units);
    }
    if (unit !== undefined) units.add(unit);
  }
  return values;
}

/** Entities of `own` that `other` does not mention (allowing spacing, plurals, acronyms). */
function unmatchedEntities(own: TextAnalysis, other: TextAnalysis): number {
  let unmatched = 0;
  own.entities.forEach((entity) => {
    if (!mentions(other, entity, own.acronyms.has(entity)) && !expandsAcronymOf(own, entity, other))
      unmatched++;
  });
  return unmatched;
}

function mentions(other: TextAnalysis, entity: string, acronym: boolean): boolean {
  if (other.wordSet.has(entity)) return true;
  const compact = compactForm(entity);
  if (compact.length >= 4 && other.compact.includes(compact)) return true;
  // Acronym in `own` spelled out in `other` (HF → Hugging Face).
  if (acronym && spellsOut(other, compact)) return true;
  if (compact.length >= 5) {
    const prefix = compact.slice(0, Math.max(4, compact.length - 3));
    for (const word of other.words) {
      if (word.startsWith(prefix) && Math.abs(word.length - compact.length) <= 3) return true;
    }
  }
  return false;
}

/** Whether `entity` (a word of `own`) is covered by an acronym that `other` uses (Hugging → HF). */
function expandsAcronymOf(own: TextAnalysis, entity: string, other: TextAnalysis): boolean {
  const position = own.words.indexOf(entity);
  if (position < 0) return false;
  for (const candidate of other.acronyms) {
    const acronym = compactForm(candidate).replace(/s$/, '');
    for (let start = Math.max(0, position - acronym.length + 1); start <= position; start++) {
      if (
        own.initials.slice(start, start + acronym.length) === acronym &&
        contentSpan(own, start, acronym.length)
      )
        return true;
    }
  }
  return false;
}

/** Whether `text` has consecutive content words whose initials spell `acronym`. */
function spellsOut(text: TextAnalysis, acronym: string): boolean {
  const bare = acronym.replace(/s$/, '');
  if (bare.length < 2) return false;
  let from = text.initials.indexOf(bare);
  while (from >= 0) {
    if (contentSpan(text, from, bare.length)) return true;
    from = text.initials.indexOf(bare, from + 1);
  }
  return false;
}

function contentSpan(text: TextAnalysis, start: number, length: number): boolean {
  for (let index = start; index < start + length; index++) {
    const word = text.words[index];
    if (word === undefined || STOP_WORDS.has(word)) return false;
  }
  return true;
}

const ORDER_MARKERS = new Set([
  'to',
  'into',
  'from',
  'than',
  'not',
  'vs',
  'versus',
  'against',
  'instead',
  'rather',
  'before',
  'after',
]);

/**
 * Shared content words whose order flips between the texts: the share of flipped pairs,
 * and whether a flip straddles an order marker in both (ethanol *to* acid / acid *to* ethanol).
 */
function orderInversions(
  left: TextAnalysis,
  right: TextAnalysis,
): { share: number; marked: boolean } {
  const once = (sequence: readonly string[]) => {
    const counts = new Map<string, number>();
    for (const word of sequence) counts.set(word, (counts.get(word) ?? 0) + 1);
    return counts;
  };
  const leftCounts = once(left.sequence);
  const rightCounts = once(right.sequence);
  const shared = left.sequence.filter(
    (word) => leftCounts.get(word) === 1 && rightCounts.get(word) === 1,
  );
  if (shared.length < 2) return { share: 0, marked: false };
  const rightPosition = new Map(right.sequence.map((word, index) => [word, index]));
  let flipped = 0;
  let pairs = 0;
  let marked = false;
  for (let i = 0; i < shared.length; i++) {
    for (let j = i + 1; j < shared.length; j++) {
      pairs++;
      const first = shared[i] as string;
      const second = shared[j] as string;
      if ((rightPosition.get(first) as number) > (rightPosition.get(second) as number)) {
        flipped++;
        if (!marked && markerBetween(left, first, second) && markerBetween(right, second, first))
          marked = true;
      }
    }
  }
  return { share: flipped / pairs, marked };
}

/** Whether an order marker lies between the words (stems) `first` and `second` of `text`. */
function markerBetween(text: TextAnalysis, first: string, second: string): boolean {
  const words = text.words;
  const start = words.findIndex((word) => stem(word) === first);
  const end = words.findIndex((word) => stem(word) === second);
  if (start < 0 || end < 0 || end <= start || end - start > 4) return false;
  for (let index = start + 1; index < end; index++) {
    if (ORDER_MARKERS.has(words[index] as string)) return true;
  }
  return false;
}

function directionsDiffer(left: TextAnalysis, right: TextAnalysis): boolean {
  for (const relation of left.directed) {
    const [source, target] = relation.split('>') as [string, string];
    if (right.directed.has(`${target}>${source}`) && !right.directed.has(relation)) return true;
  }
  for (const attachment of left.attachments) {
    const [preposition, term] = attachment.split(':') as [string, string];
    const opposite = `${preposition === 'to' ? 'from' : 'to'}:${term}`;
    if (
      right.attachments.has(opposite) &&
      !right.attachments.has(attachment) &&
      !left.attachments.has(opposite)
    )
      return true;
  }
  for (const side of left.polar) {
    const [pair, which] = side.split(':') as [string, string];
    const opposite = `${pair}:${which === '0' ? '1' : '0'}`;
    if (right.polar.has(opposite) && !right.polar.has(side) && !left.polar.has(opposite))
      return true;
  }
  return false;
}

function containsIdentifier(other: TextAnalysis, identifier: string): boolean {
  if (other.rawText.includes(identifier)) return true;
  const compact = compactForm(identifier);
  return compact.length >= 4 && other.compact.includes(compact);
}

/**
 * Content words only one side has, once spelling variants are paired off (favourite/favorite,
 * vomiting/vomitings): `swapped` counts words replaced by different words (lager → porter),
 * `added` the words one side has beyond that.
 */
function wordChanges(
  left: ReadonlySet<string>,
  right: ReadonlySet<string>,
): { swapped: number; added: number } {
  const leftOnly = [...left].filter((word) => !right.has(word));
  const rightOnly = [...right].filter((word) => !left.has(word));
  const unpaired = rightOnly.filter(() => true);
  let leftRemaining = 0;
  for (const word of leftOnly) {
    const variant = unpaired.findIndex((other) => isVariant(word, other));
    if (variant >= 0) unpaired.splice(variant, 1);
    else leftRemaining++;
  }
  const rightRemaining = unpaired.length;
  return {
    swapped: Math.min(leftRemaining, rightRemaining),
    added: Math.abs(leftRemaining - rightRemaining),
  };
}

function isVariant(left: string, right: string): boolean {
  let prefix = 0;
  while (prefix < left.length && left[prefix] === right[prefix]) prefix++;
  if (prefix >= 4 || (prefix >= 3 && Math.min(left.length, right.length) <= 4)) return true;
  const longest = Math.max(left.length, right.length);
  return longest >= 5 && editDistance(left, right, 1) <= 1;
}

function jaccard(left: ReadonlySet<string>, right: ReadonlySet<string>): number {
  if (left.size === 0 && right.size === 0) return 1;
  let shared = 0;
  for (const item of left) if (right.has(item)) shared++;
  return shared / (left.size + right.size - shared);
}

function compactForm(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
}

function stem(word: string): string {
  if (word.length > 5 && word.endsWith('ing')) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith('ed')) return word.slice(0, -2);
  if (word.length > 4 && word.endsWith('es')) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}
