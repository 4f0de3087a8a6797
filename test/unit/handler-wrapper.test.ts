import { captureOutput } from '../helpers/log-capture';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';
import httpEvent from '../fixtures/events/http-api-post.json';

const context = { functionName: 'test', awsRequestId: 'req-1' } as Context;

const handler = createHandler({ input: z.strictObject({ model: z.number().int().positive() }) }, async ({ model }) => {
  if (model === 404) throw new NotFoundError('Federated model 404 does not exist');
  if (model === 500) throw new Error('database driver exploded: secret stack detail');
  return { model, doubled: model * 2 };
});

const withBody = (body: string, isBase64Encoded = false) => ({ ...httpEvent, body, isBase64Encoded });

describe('the handler wrapper', () => {
  describe('direct invocation (Step Functions, SDK Invoke)', () => {
    it('takes the event as the input and returns plain data', async () => {
      await expect(handler({ model: 7 }, context)).resolves.toEqual({ model: 7, doubled: 14 });
    });

    it('throws a ValidationError, by name, for bad input', async () => {
      await expect(handler({ model: -1 }, context)).rejects.toMatchObject({
        name: 'ValidationError',
        details: [{ field: 'model', message: expect.any(String) }],
      });
    });

    it('throws the connector\'s errors by name', async () => {
      await expect(handler({ model: 404 }, context)).rejects.toMatchObject({ name: 'NotFoundError' });
    });

    it('keeps the name in the stack header, which is all some runtimes carry across', async () => {
      const error = await handler({ model: 0 }, context).catch((e: Error) => e);
      expect((error as Error).stack).toMatch(/^ValidationError: /);
    });
  });

  describe('HTTP API events', () => {
    it('parses the JSON body and answers 200 with JSON', async () => {
      const response = await handler(httpEvent, context);
      expect(response).toEqual({
        statusCode: 200,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 7, doubled: 14 }),
      });
    });

    it('reads base64-encoded bodies', async () => {
      const response = (await handler(withBody(Buffer.from('{"model":3}').toString('base64'), true), context)) as {
        body: string;
      };
      expect(JSON.parse(response.body)).toEqual({ model: 3, doubled: 6 });
    });

    it.each([
      ['malformed JSON', '{"model":', /not valid JSON/],
      ['a wrong type', '{"model":"7"}', /model/],
      ['an unknown field', '{"model":7,"x":1}', /x/],
    ])('answers %s with 400 and a JSON body', async (_, body, message) => {
      const response = (await handler(withBody(body), context)) as { statusCode: number; body: string; headers: Record<string, string> };
      expect(response.statusCode).toBe(400);
      expect(response.headers['Content-Type']).toBe('application/json');
      expect(JSON.parse(response.body)).toMatchObject({ error: 'ValidationError', message: expect.stringMatching(message) });
    });

    it('answers a NotFoundError with 404', async () => {
      const response = (await handler(withBody('{"model":404}'), context)) as { statusCode: number; body: string };
      expect(response.statusCode).toBe(404);
      expect(JSON.parse(response.body)).toEqual({ error: 'NotFoundError', message: 'Federated model 404 does not exist' });
    });

    it('answers an unexpected error with a bare 500, no message or stack', async () => {
      const output = captureOutput();
      const response = (await handler(withBody('{"model":500}'), context)) as { statusCode: number; body: string };
      output.restore();
      expect(response.statusCode).toBe(500);
      expect(JSON.parse(response.body)).toEqual({ error: 'InternalError', message: 'Internal server error' });
      expect(response.body).not.toMatch(/secret/);
      // The log has what the answer hides: the error, once, as a JSON line.
      expect(output.json().filter((line) => line.level === 'ERROR')).toEqual([
        expect.objectContaining({ message: 'failed', error: expect.objectContaining({ message: expect.stringMatching(/secret/) }) }),
      ]);
    });
  });
});
