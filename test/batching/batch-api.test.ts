import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchApiError, createBatchClient } from '../../src/batching/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

let mock: MockProvider;
let url: string;

beforeAll(async () => {
  mock = createMockProvider({ apiKey: 'secret' });
  ({ url } = await mock.listen(0));
});

afterAll(async () => {
  await mock.close();
});

/** A local server that answers every request with `body` and `status`. */
async function fixedServer(status: number, body: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` };
}

describe('createBatchClient', () => {
  it('uploads, creates, retrieves and reads results with typed answers', async () => {
    const client = createBatchClient({ baseUrl: `${url}/`, apiKey: 'secret' });
    const batch = await client.submit(
      [
        {
          custom_id: 'one',
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'mock-small', messages: [{ role: 'user', content: 'hi' }] },
        },
      ],
      { endpoint: '/v1/chat/completions', metadata: { owner: 'test' } },
    );
    expect(batch).toMatchObject({ status: 'validating', metadata: { owner: 'test' } });
    const done = await client.retrieveBatch(batch.id);
    expect(done.status).toBe('completed');
    const lines = await client.results(done);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ custom_id: 'one', response: { status_code: 200 } });
    const input = await client.fileContent(done.input_file_id);
    expect(JSON.parse(input.trim())).toMatchObject({ custom_id: 'one' });
    await client.deleteFile(done.input_file_id);
    await expect(client.fileContent(done.input_file_id)).rejects.toMatchObject({
      code: 'E_BATCH_API',
      status: 404,
      isRetryable: false,
    });
  });

  it('refuses lines that do not fit the batch before sending anything', async () => {
    const client = createBatchClient({ baseUrl: url, apiKey: 'secret' });
    const line = {
      custom_id: 'a',
      method: 'POST' as const,
      url: '/v1/chat/completions' as const,
      body: {},
    };
    await expect(client.submit([line, line], { endpoint: '/v1/chat/completions' })).rejects.toThrow(
      /appears twice/,
    );
    await expect(client.submit([line], { endpoint: '/v1/embeddings' })).rejects.toThrow(
      /must target/,
    );
    await expect(client.submit([], { endpoint: '/v1/embeddings' })).rejects.toThrow(/at least one/);
  });

  it('maps error statuses, network failures and malformed answers to BatchApiError', async () => {
    const unauthorised = createBatchClient({ baseUrl: url, apiKey: 'wrong' });
    const denied = await unauthorised.retrieveBatch('batch_x').catch((error: unknown) => error);
    expect(denied).toBeInstanceOf(BatchApiError);
    expect(denied).toMatchObject({ status: 401, isRetryable: false });
    expect((denied as Error).message).toMatch(
      /GET \/batches\/batch_x answered 401: Incorrect API key/,
    );

    const busy = createBatchClient({
      baseUrl: url,
      apiKey: 'secret',
      headers: { 'x-mock-fault': '429' },
    });
    await expect(busy.retrieveBatch('batch_x')).rejects.toMatchObject({
      status: 429,
      isRetryable: true,
    });

    const malformed = await fixedServer(200, JSON.stringify({ id: 'batch_1', status: 'weird' }));
    try {
      const client = createBatchClient({ baseUrl: malformed.url });
      await expect(client.retrieveBatch('batch_1')).rejects.toMatchObject({
        code: 'E_BATCH_API_RESPONSE',
      });
    } finally {
      malformed.server.close();
    }

    const closed = await fixedServer(200, '{}');
    await new Promise((resolve) => closed.server.close(resolve));
    const unreachable = createBatchClient({ baseUrl: closed.url });
    await expect(unreachable.retrieveBatch('batch_1')).rejects.toMatchObject({
      code: 'E_BATCH_API_NETWORK',
      isRetryable: true,
    });
    expect(() => createBatchClient({ baseUrl: 'not a url' })).toThrow(/absolute URL/);
  });
});
