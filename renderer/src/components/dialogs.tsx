// Confirmation, reason and duration dialogs (Radix Dialog: focus trap, Escape, labelled).

import { useId, useState, type ReactNode } from 'react';
import * as Dialog from '@radix-ui/react-dialog';
import { ApiError, APPROVER_REASON_MAX } from '../../../common/lapse-api.ts';

/** A dialog's frame: title, description and the content given. */
export function Frame(props: { open: boolean; onOpenChange(open: boolean): void; title: string; description?: ReactNode; children: ReactNode }) {
  return (
    <Dialog.Root open={props.open} onOpenChange={props.onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content className="dialog">
          <Dialog.Title className="dialog-title">{props.title}</Dialog.Title>
          {props.description ? <Dialog.Description className="dialog-description">{props.description}</Dialog.Description> : <Dialog.Description className="sr-only">{props.title}</Dialog.Description>}
          {props.children}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}

function errorText(err: unknown): { field?: string; message: string } {
  const e = ApiError.from(err);
  return { ...(e.field ? { field: e.field } : {}), message: e.detail };
}

/** Yes/no confirmation; `onConfirm` may reject with an ApiError, shown in the dialog. */
export function ConfirmDialog(props: { open: boolean; onOpenChange(open: boolean): void; title: string; description: ReactNode; confirmLabel: string; danger?: boolean; onConfirm(): Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      props.onOpenChange(false);
    } catch (err) {
      setError(errorText(err).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Frame open={props.open} onOpenChange={props.onOpenChange} title={props.title} description={props.description}>
      {error && <p role="alert" className="error">{error}</p>}
      <div className="actions">
        <Dialog.Close asChild><button type="button">Cancel</button></Dialog.Close>
        <button type="button" className={props.danger ? 'danger' : 'primary'} disabled={busy} onClick={confirm}>{props.confirmLabel}</button>
      </div>
    </Frame>
  );
}

/**
 * A reason typed in a dialog's form: on submit it is trimmed and checked (`check` says what is
 * wrong, or null), then given to `onSubmit`; taken, the form is cleared and the dialog closed,
 * refused, the server's detail is shown.
 */
export function useReasonForm(check: (text: string) => string | null, onSubmit: (reason: string) => Promise<void>, onOpenChange: (open: boolean) => void) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    const text = reason.trim();
    const wrong = check(text);
    if (wrong) return setError(wrong);
    setBusy(true);
    setError(null);
    try {
      await onSubmit(text);
      setReason('');
      onOpenChange(false);
    } catch (err) {
      setError(errorText(err).message);
    } finally {
      setBusy(false);
    }
  };
  return { reason, setReason, error, busy, submit };
}

/** Approve or deny with a reason: required where the flow says, at most 124 characters, counted as typed. */
export function ReasonDialog(props: { open: boolean; onOpenChange(open: boolean): void; verb: 'Approve' | 'Deny'; subject: string; required: boolean; onSubmit(reason: string): Promise<void> }) {
  const id = useId();
  const { reason, setReason, error, busy, submit } = useReasonForm(
    (text) => (props.required && !text ? 'A reason is required for this flow.' : text.length > APPROVER_REASON_MAX ? `At most ${APPROVER_REASON_MAX} characters.` : null),
    props.onSubmit, props.onOpenChange,
  );
  const over = reason.length > APPROVER_REASON_MAX;
  return (
    <Frame open={props.open} onOpenChange={props.onOpenChange} title={`${props.verb} request`} description={props.subject}>
      <form onSubmit={submit} noValidate>
        <label htmlFor={`${id}-reason`}>Reason{props.required ? ' (required)' : ' (optional)'}</label>
        <textarea
          id={`${id}-reason`} value={reason} rows={3} autoFocus
          aria-invalid={error ? true : undefined} aria-describedby={`${id}-count${error ? ` ${id}-error` : ''}`}
          onChange={(e) => setReason(e.target.value)}
        />
        <div id={`${id}-count`} className={over ? 'counter over' : 'counter'} aria-live="polite">{reason.length} / {APPROVER_REASON_MAX}</div>
        {error && <p id={`${id}-error`} role="alert" className="field-error">{error}</p>}
        <div className="actions">
          <Dialog.Close asChild><button type="button">Cancel</button></Dialog.Close>
          <button type="submit" className={props.verb === 'Deny' ? 'danger' : 'primary'} disabled={busy}>{props.verb}</button>
        </div>
      </form>
    </Frame>
  );
}

/**
 * Extend active access by a duration (validated by the server against the flow), starting
 * from `duration` (default 1h); the justification is marked required where the flow asks one.
 */
export function ExtendDialog(props: {
  open: boolean; onOpenChange(open: boolean): void; subject: string; duration?: string; justificationRequired?: boolean;
  /** The flow requires MFA (without single sign-on): a code from the authenticator. */
  codeRequired?: boolean;
  onSubmit(duration: string, justification: string, mfaCode: string): Promise<void>;
  /**
   * With single sign-on, a refusal for a sign-in too old for the flow (a step-up) offers to
   * sign in again: this goes to the provider for that flow (and, where it comes back here,
   * resolves; the person then extends again).
   */
  onStepUp?(flowId: string): Promise<void>;
}) {
  const [duration, setDuration] = useState(props.duration ?? '1h');
  const [justification, setJustification] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [stepUp, setStepUp] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const signInAgain = async (flowId: string) => {
    setBusy(true);
    try {
      await props.onStepUp!(flowId);
      setStepUp(null);
      setError(null);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setError(null);
    setStepUp(null);
    if (props.justificationRequired && !justification.trim()) return setError({ field: 'justification', message: 'This flow requires a justification.' });
    if (props.codeRequired && !/^[0-9]{6}$/.test(code)) return setError({ field: 'mfaCode', message: 'Enter the 6-digit code from your authenticator.' });
    try {
      await props.onSubmit(duration.trim(), justification.trim(), code);
      props.onOpenChange(false);
    } catch (err) {
      setError(errorText(err));
      if (props.onStepUp) setStepUp(ApiError.from(err).stepUp?.flowId ?? null);
    }
  };
  return (
    <Frame open={props.open} onOpenChange={props.onOpenChange} title="Extend access" description={props.subject}>
      <form onSubmit={submit} noValidate>
        <label htmlFor={`${id}-d`}>Extend by</label>
        <input id={`${id}-d`} value={duration} onChange={(e) => setDuration(e.target.value)} aria-invalid={error?.field === 'duration' || undefined} />
        <label htmlFor={`${id}-j`}>Justification{props.justificationRequired ? ' (required)' : ''}</label>
        <textarea id={`${id}-j`} rows={2} value={justification} onChange={(e) => setJustification(e.target.value)} aria-invalid={error?.field === 'justification' || undefined} />
        {props.codeRequired && (
          <>
            <label htmlFor={`${id}-c`}>MFA code</label>
            <input id={`${id}-c`} inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={code} onChange={(e) => setCode(e.target.value)} aria-invalid={error?.field === 'mfaCode' || undefined} />
          </>
        )}
        {error && <p role="alert" className="field-error">{error.field ? `${error.field}: ` : ''}{error.message}</p>}
        {stepUp && <button type="button" onClick={() => void signInAgain(stepUp)} disabled={busy}>Sign in again at your identity provider</button>}
        <div className="actions">
          <Dialog.Close asChild><button type="button">Cancel</button></Dialog.Close>
          <button type="submit" className="primary" disabled={busy}>Extend</button>
        </div>
      </form>
    </Frame>
  );
}
