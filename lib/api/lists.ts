import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import type { Page, Paged } from '../connector';
import { ClientIdSchema } from '../entities';
import { NotFoundError, ValidationError } from '../errors';
import { respond } from '../http/response';

/**
 * Lists as FMA's paginators answer them: a bare JSON array, limited by `?page` and `?page_size`
 * (DRF's PageNumberPagination: a `page_size` that is not a positive integer means the default,
 * one above the maximum means the maximum; a page that is not a number or lies beyond the last is
 * 404 "Invalid page."). The total and the neighbouring pages are in headers: `X-Total-Count` and
 * `Link` (RFC 8288: `rel="next"`, `"prev"`, `"first"`, `"last"`).
 */
export interface PageSizes {
  readonly default: number;
  readonly max: number;
}

/** FMA's sizes: 10 (at most 20) for updates, aggregates and scores; 100 (at most 200) for models. */
export const PAGE_SIZES = {
  updates: { default: 10, max: 20 },
  aggregates: { default: 10, max: 20 },
  scores: { default: 10, max: 20 },
  models: { default: 100, max: 200 },
  members: { default: 100, max: 1_000 },
  runs: { default: 20, max: 100 },
} as const satisfies Record<string, PageSizes>;

/** The number a string of digits spells (`Infinity` for hundreds of digits), or null for anything else. */
const digits = (value: string | undefined): number | null =>
  value !== undefined && /^\s*\+?\d+\s*$/.test(value) ? Number(value) : null;

/** A page or an id: a positive safe integer, else null (400 digits are no page, not a 500). */
const positiveInt = (value: string | undefined): number | null => {
  const n = digits(value);
  return n !== null && n > 0 && Number.isSafeInteger(n) ? n : null;
};

/** `?ordering=created_on` (oldest first) or `-created_on` (newest first, the default); other fields are ignored, as DRF's OrderingFilter does. */
function ordering(value: string | undefined): 'newest' | 'oldest' {
  for (const term of (value ?? '').split(',').map((t) => t.trim())) {
    if (term === 'created_on') return 'oldest';
    if (term === '-created_on') return 'newest';
  }
  return 'newest';
}

/** The page asked for, as the connector reads it (`page` is checked against the count later). */
export function pageOf(query: Readonly<Record<string, string | undefined>>, sizes: PageSizes): Page & { readonly last: boolean } {
  // As DRF: a larger page size than the maximum means the maximum, however many digits it has.
  const size = digits(query.page_size);
  const pageSize = size === null || size === 0 ? sizes.default : Math.min(size, sizes.max);
  const order = ordering(query.ordering);
  if (query.page === 'last') return { page: 1, pageSize, order, last: true };
  const page = query.page === undefined ? 1 : positiveInt(query.page);
  if (page === null) throw new NotFoundError('Invalid page.');
  return { page, pageSize, order, last: false };
}

/**
 * Runs `list` for the page asked for and answers it: the array, `X-Total-Count` and `Link`.
 * `?page=last` asks for the count first.
 */
export async function listResponse<T>(
  event: APIGatewayProxyEventV2,
  sizes: PageSizes,
  list: (page: Page) => Promise<Paged<T>>,
  toJson: (item: T) => unknown,
) {
  const query = event.queryStringParameters ?? {};
  const { last, ...asked } = pageOf(query, sizes);
  let page: Page = asked;
  let paged = await list(page);
  const lastPage = Math.max(1, Math.ceil(paged.count / page.pageSize));
  if (last && lastPage !== 1) {
    page = { ...page, page: lastPage };
    paged = await list(page);
  }
  if (page.page > lastPage) throw new NotFoundError('Invalid page.');
  const link = (n: number) => {
    const params = new URLSearchParams(event.rawQueryString ?? '');
    params.set('page', String(n));
    return `${event.rawPath}?${params.toString()}`;
  };
  const links = [
    ...(page.page < lastPage ? [`<${link(page.page + 1)}>; rel="next"`] : []),
    ...(page.page > 1 ? [`<${link(page.page - 1)}>; rel="prev"`] : []),
    `<${link(1)}>; rel="first"`,
    `<${link(lastPage)}>; rel="last"`,
  ];
  return respond(200, paged.items.map(toJson), {
    'X-Total-Count': String(paged.count),
    Link: links.join(', '),
    'Access-Control-Expose-Headers': 'Link, X-Total-Count',
  });
}

/** A filter on an id (`?federated_model=`, `?aggregate=`): 400 unless a positive integer, as django-filter answers. */
export function idFilter(query: Readonly<Record<string, string | undefined>>, key: string): number | undefined {
  const value = query[key];
  if (value === undefined || value === '') return undefined;
  const id = positiveInt(value);
  if (id === null) throw invalidChoice(key);
  return id;
}

/** A filter on one of a few values (`?status=0`, `?status=RUNNING`): 400 unless one of them. */
export function choiceFilter<T extends number | string>(
  query: Readonly<Record<string, string | undefined>>,
  key: string,
  choices: readonly T[],
): T | undefined {
  const value = query[key];
  if (value === undefined || value === '') return undefined;
  const found = choices.find((choice) => String(choice) === value.trim());
  if (found === undefined) {
    const message = `Select a valid choice. ${value} is not one of the available choices.`;
    throw new ValidationError(`${key} ${message}`, { details: [{ field: key, message }] });
  }
  return found;
}

/** A boolean filter (`?allow_aggregation=true`): `true`/`false`/`1`/`0` in any case; anything else filters nothing, as django-filter's BooleanWidget. */
export function booleanFilter(query: Readonly<Record<string, string | undefined>>, key: string): boolean | undefined {
  const value = query[key]?.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

/** A filter on a client (`?client=<uuid>`): 400 unless a UUID, as django-filter answers for a pk that cannot be one. */
export function clientFilter(query: Readonly<Record<string, string | undefined>>, key: string): string | undefined {
  const value = query[key];
  if (value === undefined || value === '') return undefined;
  if (!ClientIdSchema.safeParse(value).success) throw invalidChoice(key);
  return value;
}

function invalidChoice(key: string) {
  const message = 'Select a valid choice. That choice is not one of the available choices.';
  return new ValidationError(`${key} ${message}`, { details: [{ field: key, message }] });
}

/**
 * The query of a list route: paging, ordering and the route's filters (name → what it filters),
 * each a string as sent and read by the helpers above; unknown parameters are ignored, as DRF does.
 */
export function listQuery(filters: Readonly<Record<string, string>>) {
  const described = (description: string) => z.string().optional().meta({ description });
  return z
    .object({
      page: described('The page, from 1, or `last`; beyond the last page is 404'),
      page_size: described('Items per page (FMA\'s default and maximum apply)'),
      ordering: described('`-created_on` (newest first, the default) or `created_on`'),
      ...Object.fromEntries(Object.entries(filters).map(([name, description]) => [name, described(description)])),
    })
    .catchall(z.string().optional());
}

/** What a list answers besides the array. */
export const LIST_HEADERS = {
  'X-Total-Count': 'How many items all pages hold',
  Link: 'RFC 8288 links to the next, previous, first and last pages',
} as const;
