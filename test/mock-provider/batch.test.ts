import OpenAI, { toFile } from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { ManualClock } from '../../src/shared/clock.js';

let provider: MockProvider;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  provider = createMockProvider();
  ({ url } = await provider.listen());
  client = new OpenAI({ baseURL: url, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await provider.close();
});

beforeEach(() => {
  provider.setOptions({ batchDelayMs: 0 });
  provider.reset();
});

const extraProviders: MockProvider[] = [];

afterEach(async () => {
  await Promise.all(extraProviders.splice(0).map((extra) => extra.close()));
});

async function startProvider(options: Parameters<typeof createMockProvider>[0] = {}) {
  const extra = createMockProvider(options);
  extraProviders.push(extra);
  const started = await extra.listen();
  return {
    provider: extra,
    ...started,
    client: new OpenAI({ baseURL: started.url, apiKey: 'x', maxRetries: 0 }),
  };
}

function chatLine(customId: string, question: string, extra: Record<string, unknown> = {}) {
  return {
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'mock-small', messages: [{ role: 'user', content: question }], ...extra },
  };
}

function jsonl(lines: readonly unknown[]): string {
  return `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`;
}

async function upload(target: OpenAI, lines: readonly unknown[] | string) {
  const text = typeof lines === 'string' ? lines : jsonl(lines);
  return target.files.create({
    file: await toFile(Buffer.from(text), 'batch.jsonl'),
    purpose: 'batch',
  });
}

interface OutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

async function readLines(target: OpenAI, fileId: string): Promise<OutputLine[]> {
  const text = await (await target.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OutputLine);
}

describe('Batch API with the official openai client', () => {
  it('uploads a JSONL file, runs a batch and answers each line like /v1/chat/completions', async () => {
    const file = await upload(client, [
      chatLine('first', 'What is the capital of France?'),
      chatLine('second', 'Name a river.', { max_tokens: 5 }),
    ]);
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'batch.jsonl' });
    expect(file.id).toMatch(/^file-/);
    expect(file.bytes).toBeGreaterThan(0);
    expect(await (await client.files.content(file.id)).text()).toContain('"custom_id":"first"');

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(created.output_file_id).toBeNull();

    // With no delay, the next poll completes it.
    const done = await client.batches.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(done.error_file_id).toBeNull();
    expect(done.completed_at).toEqual(expect.any(Number));
    const outputId = done.output_file_id;
    if (outputId === null || outputId === undefined) throw new Error('no output file');

    const lines = await readLines(client, outputId);
    expect(lines.map((line) => line.custom_id)).toEqual(['first', 'second']);
    const direct = await client.chat.completions.create({
      model: 'mock-small',
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    });
    const first = lines[0];
    expect(first?.id).toMatch(/^batch_req_/);
    expect(first?.error).toBeNull();
    expect(first?.response?.status_code).toBe(200);
    expect(first?.response?.request_id).toMatch(/^req_/);
    // The same deterministic answer as the synchronous route.
    expect(first?.response?.body).toEqual(JSON.parse(JSON.stringify(direct)));
    const usage = (lines[0]?.response?.body.usage ?? {}) as { prompt_tokens: number };
    const secondUsage = (lines[1]?.response?.body.usage ?? {}) as {
      prompt_tokens: number;
      completion_tokens: number;
    };
    expect(secondUsage.completion_tokens).toBeLessThanOrEqual(5);
    expect(done.usage?.input_tokens).toBe(usage.prompt_tokens + secondUsage.prompt_tokens);

    expect(provider.batchStats()).toMatchObject({
      fileUploads: 1,
      batchesCreated: 1,
      batchesCompleted: 1,
      batchRequests: 2,
    });
  });

  it('puts failing lines in the error file and counts them', async () => {
    const file = await upload(client, [
      chatLine('good', 'hello'),
      {
        custom_id: 'bad',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'mock-small', messages: [] },
      },
    ]);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await client.batches.retrieve(batch.id);
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    const errors = await readLines(client, done.error_file_id ?? '');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      custom_id: 'bad',
      response: { status_code: 400, body: { error: { type: 'invalid_request_error' } } },
    });
    const output = await readLines(client, done.output_file_id ?? '');
    expect(output.map((line) => line.custom_id)).toEqual(['good']);
  });

  it('answers embeddings batches with the /v1/embeddings logic', async () => {
    const file = await upload(client, [
      {
        custom_id: 'e1',
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'm', input: ['a', 'b'] },
      },
    ]);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
    });
    const done = await client.batches.retrieve(batch.id);
    const [line] = await readLines(client, done.output_file_id ?? '');
    const direct = await client.embeddings.create({ model: 'm', input: ['a', 'b'] });
    expect(line?.response?.body).toEqual(JSON.parse(JSON.stringify(direct)));
  });

  it('fails a batch whose file does not validate, with errors naming the lines', async () => {
    const file = await upload(
      client,
      `${JSON.stringify(chatLine('a', 'x'))}\nnot json\n${JSON.stringify(chatLine('a', 'y'))}\n${JSON.stringify(
        { ...chatLine('c', 'z'), url: '/v1/embeddings' },
      )}\n${JSON.stringify({ ...chatLine('d', 'w'), body: { model: 'other', messages: [{ role: 'user', content: 'w' }] } })}\n`,
    );
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const failed = await client.batches.retrieve(batch.id);
    expect(failed.status).toBe('failed');
    expect(failed.failed_at).toEqual(expect.any(Number));
    expect(failed.errors?.data?.map((error) => [error.code, error.line])).toEqual([
      ['invalid_json_line', 2],
      ['duplicate_custom_id', 3],
      ['mismatched_endpoint', 4],
      ['mismatched_model', 5],
    ]);
    expect(failed.output_file_id).toBeNull();
    expect(provider.batchStats().batchesFailed).toBe(1);
  });

  it('cancels a running batch: cancelling, then cancelled; a finished one cannot be', async () => {
    const slow = await startProvider({ batchDelayMs: 3_600_000 });
    const file = await upload(slow.client, [chatLine('a', 'x')]);
    const batch = await slow.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect((await slow.client.batches.retrieve(batch.id)).status).toBe('in_progress');
    const cancelling = await slow.client.batches.cancel(batch.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toEqual(expect.any(Number));
    const cancelled = await slow.client.batches.retrieve(batch.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.output_file_id).toBeNull();
    await expect(slow.client.batches.cancel(batch.id)).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
    expect(slow.provider.batchStats().batchesCancelled).toBe(1);
  });

  it('completes after batchDelayMs by its clock, and expires past the 24-hour window', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const timed = await startProvider({ clock, batchDelayMs: 60_000 });
    const file = await upload(timed.client, [chatLine('a', 'x'), chatLine('b', 'y')]);
    const create = () =>
      timed.client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
    const batch = await create();
    expect(batch.created_at).toBe(Date.UTC(2026, 0, 1) / 1_000);
    expect(batch.expires_at).toBe(batch.created_at + 86_400);
    clock.advance(59_999);
    const running = await timed.client.batches.retrieve(batch.id);
    expect(running).toMatchObject({ status: 'in_progress', request_counts: { total: 2 } });
    clock.advance(1);
    expect((await timed.client.batches.retrieve(batch.id)).status).toBe('completed');

    timed.provider.setOptions({ batchDelayMs: 2 * 86_400_000 });
    const late = await create();
    clock.advance(86_400_000 - 1);
    expect((await timed.client.batches.retrieve(late.id)).status).toBe('in_progress');
    clock.advance(1);
    const expired = await timed.client.batches.retrieve(late.id);
    expect(expired.status).toBe('expired');
    expect(expired.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
    const errors = await readLines(timed.client, expired.error_file_id ?? '');
    expect(errors.map((line) => [line.custom_id, line.error?.code])).toEqual([
      ['a', 'batch_expired'],
      ['b', 'batch_expired'],
    ]);
  });

  it('lists batches and deletes files', async () => {
    const file = await upload(client, [chatLine('a', 'x')]);
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const page = await client.batches.list({ limit: 5 });
    expect(page.data[0]?.id).toBe(batch.id);
    expect(await client.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true });
    await expect(client.files.content(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('Batch API over plain HTTP', () => {
  it('refuses bad uploads and bad batch bodies with OpenAI errors', async () => {
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', new Blob(['{}\n']), 'x.jsonl');
    const wrongPurpose = await fetch(`${url}/files`, { method: 'POST', body: form });
    expect(wrongPurpose.status).toBe(400);
    expect(await wrongPurpose.json()).toMatchObject({ error: { param: 'purpose' } });

    const notMultipart = await fetch(`${url}/files`, { method: 'POST', body: '{}' });
    expect(notMultipart.status).toBe(400);

    const post = (body: unknown) =>
      fetch(`${url}/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const missing = await post({
      input_file_id: 'file-nope',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(missing.status).toBe(404);
    const window = await post({
      input_file_id: 'file-nope',
      endpoint: '/v1/chat/completions',
      completion_window: '1h',
    });
    expect(await window.json()).toMatchObject({ error: { param: 'completion_window' } });
    const endpoint = await post({
      input_file_id: 'f',
      endpoint: '/v1/images',
      completion_window: '24h',
    });
    expect(endpoint.status).toBe(400);

    expect((await fetch(`${url}/batches/batch_nope`)).status).toBe(404);
    expect((await fetch(`${url}/batches/batch_nope`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${url}/files/file-nope/content`)).status).toBe(404);
  });

  it('honours a forced x-mock-fault, and requires the API key when one is set', async () => {
    const faulty = await fetch(`${url}/batches/batch_x`, { headers: { 'x-mock-fault': '500' } });
    expect(faulty.status).toBe(500);
    const guarded = await startProvider({ apiKey: 'secret' });
    expect((await fetch(`${guarded.url}/batches/batch_x`)).status).toBe(401);
  });

  it('keeps at most maxFiles files, dropping the oldest', async () => {
    const small = await startProvider({ maxFiles: 2 });
    const first = await upload(small.client, [chatLine('a', 'x')]);
    await upload(small.client, [chatLine('b', 'y')]);
    await upload(small.client, [chatLine('c', 'z')]);
    await expect(small.client.files.content(first.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('reset() zeroes the batch counters too', async () => {
    await upload(client, [chatLine('a', 'x')]);
    expect(provider.batchStats().fileUploads).toBe(1);
    provider.reset();
    expect(provider.batchStats()).toEqual({
      fileUploads: 0,
      fileDownloads: 0,
      batchesCreated: 0,
      batchPolls: 0,
      batchesCompleted: 0,
      batchesFailed: 0,
      batchesExpired: 0,
      batchesCancelled: 0,
      batchRequests: 0,
    });
  });
});
