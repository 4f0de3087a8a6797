import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { booleanFilter, choiceFilter, clientFilter, idFilter, listResponse, pageOf, PAGE_SIZES } from '../../lib/api/lists';
import { NotFoundError, ValidationError } from '../../lib/errors';

const event = (rawQueryString: string) =>
  ({
    rawPath: '/api/v1/model_updates/',
    rawQueryString,
    queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
  }) as unknown as APIGatewayProxyEventV2;

describe('lists as FMA\'s paginators answer them', () => {
  it('reads page_size as DRF does: the default when missing or invalid, the maximum when above it', () => {
    expect(pageOf({}, PAGE_SIZES.updates)).toMatchObject({ page: 1, pageSize: 10, order: 'newest' });
    expect(pageOf({ page_size: '50' }, PAGE_SIZES.updates).pageSize).toBe(20);
    expect(pageOf({ page_size: '0' }, PAGE_SIZES.updates).pageSize).toBe(10);
    expect(pageOf({ page_size: 'ten' }, PAGE_SIZES.models).pageSize).toBe(100);
    expect(pageOf({ page_size: '500' }, PAGE_SIZES.models).pageSize).toBe(200);
    expect(pageOf({ ordering: 'created_on' }, PAGE_SIZES.models).order).toBe('oldest');
    expect(pageOf({ ordering: 'name,-created_on' }, PAGE_SIZES.models).order).toBe('newest');
  });

  it('answers a page that is not a number 404 "Invalid page."', () => {
    expect(() => pageOf({ page: 'x' }, PAGE_SIZES.updates)).toThrow(NotFoundError);
    expect(() => pageOf({ page: '0' }, PAGE_SIZES.updates)).toThrow('Invalid page.');
  });

  it('reads numbers of hundreds of digits as DRF does, not as Infinity (a 500 once)', () => {
    const huge = '9'.repeat(400);
    expect(() => pageOf({ page: huge }, PAGE_SIZES.updates)).toThrow(NotFoundError);
    expect(() => pageOf({ page: String(Number.MAX_SAFE_INTEGER + 2) }, PAGE_SIZES.updates)).toThrow('Invalid page.');
    expect(pageOf({ page: String(Number.MAX_SAFE_INTEGER) }, PAGE_SIZES.updates).page).toBe(Number.MAX_SAFE_INTEGER);
    expect(pageOf({ page_size: huge }, PAGE_SIZES.updates).pageSize).toBe(20);
    expect(() => idFilter({ aggregate: huge }, 'aggregate')).toThrow(ValidationError);
  });

  it('filters by client only with a UUID: anything else is 400, never a query', () => {
    expect(clientFilter({ client: '6f1c2a44-0b2d-4c43-9a57-1f0e4e0f5a10' }, 'client')).toBe('6f1c2a44-0b2d-4c43-9a57-1f0e4e0f5a10');
    expect(clientFilter({ client: '' }, 'client')).toBeUndefined();
    expect(() => clientFilter({ client: 'x\u0000y' }, 'client')).toThrow(ValidationError);
    expect(() => clientFilter({ client: 'somebody' }, 'client')).toThrow('Select a valid choice');
  });

  it('answers a bare array with X-Total-Count and Link headers that keep the filters', async () => {
    const items = Array.from({ length: 25 }, (_, i) => i);
    const list = async (page: { page: number; pageSize: number }) => ({
      count: items.length,
      items: items.slice((page.page - 1) * page.pageSize, page.page * page.pageSize),
    });
    const reply = (await listResponse(event('status=0&page=2'), PAGE_SIZES.updates, list, (n) => n)) as unknown as {
      body: number[];
      headers: Record<string, string>;
    };
    expect(reply.body).toEqual(items.slice(10, 20));
    expect(reply.headers['X-Total-Count']).toBe('25');
    expect(reply.headers.Link).toBe(
      '</api/v1/model_updates/?status=0&page=3>; rel="next", </api/v1/model_updates/?status=0&page=1>; rel="prev", ' +
        '</api/v1/model_updates/?status=0&page=1>; rel="first", </api/v1/model_updates/?status=0&page=3>; rel="last"',
    );
    const last = (await listResponse(event('page=last'), PAGE_SIZES.updates, list, (n) => n)) as unknown as { body: number[] };
    expect(last.body).toEqual(items.slice(20));
    await expect(listResponse(event('page=4'), PAGE_SIZES.updates, list, (n) => n)).rejects.toThrow('Invalid page.');
    const empty = (await listResponse(event(''), PAGE_SIZES.updates, async () => ({ count: 0, items: [] }), (n) => n)) as unknown as {
      body: number[];
    };
    expect(empty.body).toEqual([]);
  });

  it('reads filters as django-filter does: bad ids and choices are 400, bad booleans filter nothing', () => {
    expect(idFilter({ federated_model: '7' }, 'federated_model')).toBe(7);
    expect(idFilter({}, 'federated_model')).toBeUndefined();
    expect(() => idFilter({ federated_model: 'x' }, 'federated_model')).toThrow(ValidationError);
    expect(choiceFilter({ status: '2' }, 'status', [0, 1, 2, 3, 4])).toBe(2);
    expect(() => choiceFilter({ status: '9' }, 'status', [0, 1, 2, 3, 4])).toThrow(/Select a valid choice/);
    expect(booleanFilter({ allow_aggregation: 'True' }, 'allow_aggregation')).toBe(true);
    expect(booleanFilter({ allow_aggregation: '0' }, 'allow_aggregation')).toBe(false);
    expect(booleanFilter({ allow_aggregation: 'maybe' }, 'allow_aggregation')).toBeUndefined();
  });
});
