import { assertValidJsonSchema, MAX_COMPILED_SCHEMAS, unsafePattern, assertMatchesSchema } from '../../lib/api/json-schema';
import { ValidationError } from '../../lib/errors';

describe('JSON Schemas of models: patterns that could backtrack catastrophically are refused', () => {
  it.each(['^(a+)+$', '(a|aa)*b', '^(\\w+\\s?)*$', '((ab)*c)+', '(x+x+)+y', '(.*a){20}', '^(a)\\1$'])('refuses %s', (pattern) => {
    expect(unsafePattern(pattern)).not.toBeNull();
    expect(() => assertValidJsonSchema({ type: 'object', properties: { a: { type: 'string', pattern } } }, 'update_schema')).toThrow(
      ValidationError,
    );
  });

  it.each(['^[a-z]+$', '^\\d{3}-\\d{4}$', '^(abc)+$', '^(foo|bar)$', '[(]+', '^a+(b)?c*$'])('accepts %s', (pattern) => {
    expect(unsafePattern(pattern)).toBeNull();
  });

  it('refuses a pattern longer than the limit, and finds patternProperties keys', () => {
    expect(unsafePattern('a'.repeat(201))).toMatch(/longer than 200/);
    expect(() => assertValidJsonSchema({ type: 'object', patternProperties: { '^(a+)+$': {} } }, 's')).toThrow(/refused/);
  });

  it(`keeps validating correctly past ${MAX_COMPILED_SCHEMAS} distinct schemas (the cache forgets the oldest)`, () => {
    for (let i = 0; i < MAX_COMPILED_SCHEMAS + 20; i += 1) {
      assertMatchesSchema({ type: 'array', maxItems: i + 1 }, [1], 'data');
    }
    expect(() => assertMatchesSchema({ type: 'array', maxItems: 1 }, [1, 2], 'data')).toThrow(/did not match/);
    expect(() => assertMatchesSchema({ type: 'array', maxItems: 1 }, [1], 'data')).not.toThrow();
  });
});
