/**
 * Keyword search over memory entries: an inverted index scored with BM25 (k1 = 1.2, b = 0.75).
 * Adding or removing an entry touches only its own terms; a query reads only the postings of
 * its terms.
 */
import { wordsOf } from './salience.js';

const K1 = 1.2;
const B = 0.75;

const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by for from has have he her his i if in into is it its me my no ' +
    'not of on or our she so that the their them then there they this to was we were what when ' +
    'where which who will with you your'
  ).split(' '),
);

/**
 * Search terms of a text: its words without stopwords, plus the parts of compound words
 * (`ORD-7781` is also `ord` and `7781`, `src/app.ts` also `src`, `app`, `ts`).
 */
export function searchTerms(text: string): string[] {
  const terms: string[] = [];
  for (const word of wordsOf(text)) {
    if (word.length < 2 || STOPWORDS.has(word)) continue;
    terms.push(word);
    if (!/[.,:/\\_-]/.test(word)) continue;
    for (const part of word.split(/[.,:/\\_-]+/)) {
      if (part.length >= 2 && !STOPWORDS.has(part)) terms.push(part);
    }
  }
  return terms;
}

export class SearchIndex {
  /** term → (id → term frequency). */
  readonly #postings = new Map<string, Map<string, number>>();
  /** id → number of terms. */
  readonly #lengths = new Map<string, number>();
  /** id → its distinct terms, to remove it without re-reading the text. */
  readonly #terms = new Map<string, string[]>();
  #totalLength = 0;

  add(id: string, text: string): void {
    this.remove(id);
    const terms = searchTerms(text);
    const frequencies = new Map<string, number>();
    for (const term of terms) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
    for (const [term, frequency] of frequencies) {
      let posting = this.#postings.get(term);
      if (posting === undefined) {
        posting = new Map();
        this.#postings.set(term, posting);
      }
      posting.set(id, frequency);
    }
    this.#lengths.set(id, terms.length);
    this.#terms.set(id, [...frequencies.keys()]);
    this.#totalLength += terms.length;
  }

  remove(id: string): void {
    const terms = this.#terms.get(id);
    if (terms === undefined) return;
    for (const term of terms) {
      const posting = this.#postings.get(term);
      posting?.delete(id);
      if (posting?.size === 0) this.#postings.delete(term);
    }
    this.#totalLength -= this.#lengths.get(id) ?? 0;
    this.#lengths.delete(id);
    this.#terms.delete(id);
  }

  clear(): void {
    this.#postings.clear();
    this.#lengths.clear();
    this.#terms.clear();
    this.#totalLength = 0;
  }

  /** BM25 scores of the entries matching at least one query term, unsorted. */
  score(query: string): Map<string, number> {
    const scores = new Map<string, number>();
    const documents = this.#lengths.size;
    if (documents === 0) return scores;
    const averageLength = this.#totalLength / documents || 1;
    for (const term of new Set(searchTerms(query))) {
      const posting = this.#postings.get(term);
      if (posting === undefined) continue;
      const idf = Math.log(1 + (documents - posting.size + 0.5) / (posting.size + 0.5));
      for (const [id, frequency] of posting) {
        const length = this.#lengths.get(id) ?? 0;
        const weight =
          (idf * (frequency * (K1 + 1))) /
          (frequency + K1 * (1 - B + (B * length) / averageLength));
        scores.set(id, (scores.get(id) ?? 0) + weight);
      }
    }
    return scores;
  }
}
