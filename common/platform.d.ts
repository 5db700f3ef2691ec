// The platform APIs common/ may use: those that browsers, Node and Electron all provide, as
// far as common/ uses them. common/tsconfig.json checks common/ against these alone (no DOM,
// no Node types), so code here cannot lean on what only one of its hosts has. Elsewhere the
// host's own types (DOM or Node) declare the same APIs in full.

declare function setTimeout(handler: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;

interface AbortSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}
declare class AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}

declare class TextDecoder {
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}

declare class URL {
  constructor(url: string, base?: string | URL);
  readonly href: string;
  toString(): string;
}

interface ReadableStreamReader<T> {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: T }>;
}
interface Response {
  readonly ok: boolean;
  readonly status: number;
  readonly body: { getReader(): ReadableStreamReader<Uint8Array> } | null;
}
declare function fetch(input: string | URL, init?: { headers?: Record<string, string>; signal?: AbortSignal }): Promise<Response>;
