import { describe, expect, it } from 'vitest';
import { closestName, editDistance } from '../../src/shared/edit-distance.js';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions, giving up past the limit', () => {
    expect(editDistance('team-a', 'team-aa', 3)).toBe(1);
    expect(editDistance('kitten', 'sitting', 5)).toBe(3);
    expect(editDistance('kitten', 'sitting', 2)).toBe(3);
    expect(editDistance('a', 'abcdef', 2)).toBe(3);
  });
});

describe('closestName', () => {
  it('suggests the nearest candidate only when it is close enough to be a typo', () => {
    expect(closestName('team-aa', ['team-b', 'team-a'])).toBe('team-a');
    expect(closestName('GPT-4O-MNI', ['gpt-4o', 'gpt-4o-mini'])).toBe('gpt-4o-mini');
    expect(closestName('nomodel', ['gpt-4o-mini', 'llama'])).toBeUndefined();
    expect(closestName('x', [])).toBeUndefined();
  });
});
