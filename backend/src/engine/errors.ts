// Errors the engine raises for a caller to act on. The API maps `kind` to an HTTP status
// and `field` to the problem's field path.

export type LapseErrorKind = 'invalid' | 'unauthorized' | 'forbidden' | 'not-found' | 'conflict' | 'unavailable' | 'too-many';

export class LapseError extends Error {
  constructor(
    readonly kind: LapseErrorKind,
    message: string,
    readonly field?: string,
    /** For `too-many`: how long until trying again may succeed. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'LapseError';
  }
}

export const invalid = (message: string, field?: string) => new LapseError('invalid', message, field);
export const forbidden = (message: string) => new LapseError('forbidden', message);
export const notFound = (message: string) => new LapseError('not-found', message);
export const conflict = (message: string) => new LapseError('conflict', message);

/**
 * A flow that requires MFA, with single sign-on: the person must authenticate again at the
 * identity provider (a step-up for this flow) before requesting it.
 */
export class StepUpRequired extends LapseError {
  constructor(message: string, readonly flowId: string) {
    super('forbidden', message);
    this.name = 'StepUpRequired';
  }
}
