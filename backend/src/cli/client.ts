// A small HTTP client for the API (fetch), turning problem+json errors into readable ones.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    /** What to do about it, in the CLI's own words (a line of its own under the server's). */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, `cannot reach the Lapse server at ${this.baseUrl}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let detail = text;
      let field: string | undefined;
      // The token ended (expired, revoked, its person offboarded): say how to get another.
      let hint = res.status === 401 ? 'sign in again with `lapse login` (or give another token with --token or LAPSE_TOKEN)' : undefined;
      try {
        const p = JSON.parse(text) as { title?: string; detail?: string; field?: string; stepUp?: { flowId?: string } };
        detail = `${p.title ?? res.statusText}: ${p.detail ?? ''}`;
        // A flow that requires MFA, with single sign-on: say how to step up from here.
        if (typeof p.stepUp?.flowId === 'string') hint = `run: lapse login --step-up ${JSON.stringify(p.stepUp.flowId)}, then try again`;
        field = p.field;
      } catch {
        // not JSON: keep the text
      }
      throw new ApiError(res.status, `${res.status} ${detail}`, field, hint);
    }
    return res;
  }

  async get<T>(path: string): Promise<T> {
    return (await (await this.call('GET', path)).json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.call('GET', path)).text();
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await (await this.call('POST', path, body)).json()) as T;
  }

  /** `body`: for the few deletions that need one (removing your own MFA factor takes a code). */
  async delete(path: string, body?: unknown): Promise<void> {
    await this.call('DELETE', path, body);
  }
}
