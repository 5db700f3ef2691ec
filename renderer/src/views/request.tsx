// Request access: search the catalog, pick a flow, its permissions or a bundle, a duration
// within the flow's maximum, a justification, an optional start time and an MFA code where
// the flow asks. Errors are shown at their field, from the form's own checks or from the
// API's problem+json field path. Opens pre-filled from a favorite (`#/request?favorite=<id>`)
// or from an earlier request of the caller's (`#/request?again=<id>`: request again).

import { useEffect, useId, useMemo, useState } from 'react';
import { ApiError, type AccessRequest, type CatalogFlow, type Entitlement, type NewRequest } from '../../../common/lapse-api.ts';
import { useCatalog, useFavorites, useRequests, theApi } from '../stores.ts';
import { entitlementText, parseDuration } from '../format.ts';
import { navigate } from '../router.ts';
import type { PortalAuth } from '../api/http-api.ts';

type Field = 'flowId' | 'entitlements' | 'bundleId' | 'duration' | 'justification' | 'startAt' | 'mfaCode' | 'breakGlass' | 'favoriteName' | 'form';
type Errors = Partial<Record<Field, string>>;

const key = (e: Entitlement) => `${e.integration}|${e.resourceType}|${e.resource}|${e.permission}`;

/** `entitlements[0].permission` → `entitlements`; unknown paths → the form. */
export function fieldOf(path: string | undefined): Field {
  const head = (path ?? '').split(/[.[]/)[0] ?? '';
  return (['flowId', 'entitlements', 'bundleId', 'duration', 'justification', 'startAt', 'mfaCode', 'breakGlass'] as const).find((f) => f === head) ?? 'form';
}

function matches(flow: CatalogFlow, q: string): boolean {
  if (!q) return true;
  const hay = [flow.name, flow.description, flow.id, ...flow.bundles.map((b) => b.name), ...flow.entitlements.map(entitlementText)].join('\n').toLowerCase();
  return q.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w));
}

export function validate(flow: CatalogFlow | undefined, v: { picked: Set<string>; bundleId: string; duration: string; justification: string; startAt: string; mfaCode: string; breakGlass?: boolean }, now: number): Errors {
  const errors: Errors = {};
  if (!flow) return { flowId: 'Choose what to request.' };
  if (!v.bundleId && v.picked.size === 0) errors.entitlements = 'Choose at least one permission, or a bundle.';
  if (v.duration.trim() && v.duration.trim() !== 'indefinite') {
    try {
      const ms = parseDuration(v.duration.trim());
      if (flow.maxDuration !== 'indefinite' && ms > parseDuration(flow.maxDuration)) errors.duration = `At most ${flow.maxDuration} for this flow.`;
    } catch {
      errors.duration = 'Write a duration such as 30m, 1h or 1h30m.';
    }
  } else if (v.duration.trim() === 'indefinite' && flow.maxDuration !== 'indefinite') errors.duration = `At most ${flow.maxDuration} for this flow.`;
  if (flow.requireJustification && !v.justification.trim()) errors.justification = 'This flow requires a justification.';
  else if (v.breakGlass && !v.justification.trim()) errors.justification = 'Break-glass access needs a justification.';
  if (v.startAt && Number.isNaN(Date.parse(v.startAt))) errors.startAt = 'Not a valid date and time.';
  else if (v.startAt && Date.parse(v.startAt) < now - 60_000) errors.startAt = 'The start time is in the past.';
  if (flow.requireMfa && !flow.stepUp && !/^[0-9]{6}$/.test(v.mfaCode)) errors.mfaCode = 'Enter the 6-digit code from your authenticator.';
  return errors;
}

function FieldError({ id, text }: { id: string; text: string | undefined }) {
  return text ? <p id={id} className="field-error" role="alert">{text}</p> : null;
}

/** What a form is pre-filled with: a favorite, or an earlier request (request again). */
interface Prefill {
  flowId: string;
  bundleId: string | null;
  entitlements: Entitlement[];
  duration: string;
  justification: string | null;
}

/**
 * Pre-filled from a favorite (`#/request?favorite=<id>`), from an earlier request
 * (`?again=<id>`), or with a flow and bundle (`?flow=<id>&bundle=<id>`, from the tray).
 */
export function RequestView({ favoriteId, againId, flowId: initialFlow, bundleId: initialBundle, auth }: { favoriteId?: string; againId?: string; flowId?: string; bundleId?: string; auth?: PortalAuth }) {
  const flows = useCatalog((s) => s.flows);
  const favorites = useFavorites((s) => s.favorites);
  const [query, setQuery] = useState('');
  const [flowId, setFlowId] = useState('');
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [bundleId, setBundleId] = useState('');
  const [duration, setDuration] = useState('');
  const [justification, setJustification] = useState('');
  const [startAt, setStartAt] = useState('');
  const [mfaCode, setMfaCode] = useState('');
  const [breakGlass, setBreakGlass] = useState(false);
  const [favoriteName, setFavoriteName] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [notice, setNotice] = useState<string | null>(null);
  /** The flow the server asked a step-up for (a fresh sign-in at the identity provider). */
  const [stepUp, setStepUp] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  useEffect(() => {
    void useCatalog.getState().load();
    void useFavorites.getState().load().catch(() => undefined);
  }, []);

  const prefill = (p: Prefill) => {
    setFlowId(p.flowId);
    setBundleId(p.bundleId ?? '');
    setPicked(new Set(p.bundleId ? [] : p.entitlements.map(key)));
    setDuration(p.duration);
    setJustification(p.justification ?? '');
  };

  // Pre-fill from a favorite once both it and the catalog are here.
  const favorite = favoriteId ? favorites.find((f) => f.id === favoriteId) : undefined;
  useEffect(() => {
    if (!favorite) return;
    prefill(favorite);
    setFavoriteName(favorite.name);
  }, [favorite?.id]);

  // Or from an earlier request (request again): the same flow, access, duration and justification.
  const [again, setAgain] = useState<AccessRequest | null>(null);
  useEffect(() => {
    if (!againId || favoriteId) return;
    theApi().getRequest(againId).then((r) => {
      setAgain(r);
      prefill(r);
    }, (err) => setErrors({ form: `Request ${againId} cannot be requested again: ${ApiError.from(err).detail}` }));
  }, [againId]);

  // Or pre-select the flow (and bundle) named in the route, once the catalog is here.
  const routeFlow = !favoriteId && !againId && initialFlow ? flows.find((f) => f.id === initialFlow && f.available) : undefined;
  useEffect(() => {
    if (!routeFlow) return;
    chooseFlow(routeFlow);
    if (initialBundle && routeFlow.bundles.some((b) => b.id === initialBundle)) {
      setBundleId(initialBundle);
      setPicked(new Set());
    }
  }, [routeFlow?.id]);

  const flow = flows.find((f) => f.id === flowId);
  const shown = useMemo(() => flows.filter((f) => matches(f, query)), [flows, query]);

  const chooseFlow = (f: CatalogFlow) => {
    setFlowId(f.id);
    setPicked(new Set(f.entitlements.length === 1 ? [key(f.entitlements[0]!)] : []));
    setBundleId(f.entitlements.length === 0 && f.bundles.length === 1 ? f.bundles[0]!.id : '');
    setDuration(f.defaultDuration === 'indefinite' ? '' : f.defaultDuration);
    setErrors({});
  };

  const input = (): NewRequest => {
    const f = flow!;
    return {
      flowId: f.id,
      ...(bundleId ? { bundleId } : { entitlements: f.entitlements.filter((e) => picked.has(key(e))) }),
      ...(duration.trim() ? { duration: duration.trim() } : {}),
      ...(justification.trim() ? { justification: justification.trim() } : {}),
      ...(startAt ? { startAt: new Date(startAt).toISOString() } : {}),
      ...(mfaCode ? { mfaCode } : {}),
      ...(breakGlass && f.breakGlass ? { breakGlass: true } : {}),
    };
  };

  const showApiError = (err: unknown) => {
    const e = ApiError.from(err);
    setErrors({ [fieldOf(e.field)]: e.detail });
    setStepUp(e.stepUp?.flowId ?? null);
  };

  /** A step-up: the portal goes to the provider and back to this flow; the desktop app signs in through the browser, then says to send again. */
  const signInAgain = async (forFlow: string) => {
    if (auth) {
      location.assign(auth.loginUrl(`${location.pathname}#/request?${new URLSearchParams({ flow: forFlow })}`, forFlow));
      return;
    }
    setBusy(true);
    try {
      await theApi().signInWithSso(forFlow);
      setStepUp(null);
      setErrors({});
      setNotice('Signed in again: send the request now.');
    } catch (err) {
      setErrors({ form: `Not signed in: ${ApiError.from(err).detail}` });
    } finally {
      setBusy(false);
    }
  };

  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setNotice(null);
    const found = validate(flow, { picked, bundleId, duration, justification, startAt, mfaCode, breakGlass }, Date.now());
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const r = await theApi().createRequest(input());
      useRequests.getState().upsert(r);
      navigate('access');
    } catch (err) {
      showApiError(err);
    } finally {
      setBusy(false);
    }
  };

  const saveFavorite = async () => {
    setNotice(null);
    if (!favoriteName.trim()) return setErrors({ favoriteName: 'Name the favorite.' });
    const found = validate(flow, { picked, bundleId, duration, justification, startAt: '', mfaCode: flow?.requireMfa ? '000000' : '' }, Date.now());
    setErrors(found);
    if (Object.keys(found).length) return;
    try {
      const { startAt: _s, mfaCode: _m, breakGlass: _b, ...rest } = input();
      const f = await theApi().createFavorite({ name: favoriteName.trim(), ...rest });
      await useFavorites.getState().load();
      setNotice(`Saved as favorite “${f.name}”.`);
    } catch (err) {
      const e = ApiError.from(err);
      setErrors({ [e.field === 'name' ? 'favoriteName' : fieldOf(e.field)]: e.detail });
    }
  };

  /** A change to a field clears its error. */
  const edit = (f: Field, set: (v: string) => void) => (e: { target: { value: string } }) => {
    set(e.target.value);
    if (errors[f]) setErrors(({ [f]: _gone, ...rest }) => rest);
  };
  const described = (f: Field) => (errors[f] ? `${id}-${f}-error` : undefined);

  return (
    <main aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Request access</h2>
      {favorite && <p className="hint">From favorite “{favorite.name}”.</p>}
      {again && <p className="hint">Again, as request {again.id} ({again.flowName}).</p>}
      {!flow && errors.form && <p role="alert" className="error">{errors.form}</p>}
      <form onSubmit={submit} noValidate className="request-form">
        <label htmlFor={`${id}-q`}>Search the catalog</label>
        <input id={`${id}-q`} type="search" value={query} placeholder="flow, bundle, resource, permission" onChange={(e) => setQuery(e.target.value)} />

        <fieldset aria-describedby={described('flowId')}>
          <legend>Flow</legend>
          {shown.length === 0 && <p className="empty">Nothing in the catalog matches.</p>}
          {shown.map((f) => (
            <label key={f.id} className={f.available ? 'option' : 'option disabled'}>
              <input type="radio" name={`${id}-flow`} value={f.id} checked={flowId === f.id} disabled={!f.available} onChange={() => chooseFlow(f)} />
              <span><strong>{f.name}</strong> — {f.description}{f.approval === 'automatic' ? ' (approved automatically)' : ''}{!f.available && f.reason ? <em className="reason"> Unavailable: {f.reason}</em> : null}</span>
            </label>
          ))}
          <FieldError id={`${id}-flowId-error`} text={errors.flowId} />
        </fieldset>

        {flow && (
          <>
            <fieldset aria-describedby={described('entitlements') ?? described('bundleId')}>
              <legend>Permissions</legend>
              {flow.bundles.map((b) => (
                <label key={b.id} className="option">
                  <input type="checkbox" checked={bundleId === b.id} onChange={(e) => { setBundleId(e.target.checked ? b.id : ''); setPicked(new Set()); }} />
                  <span>Bundle: {b.name} ({b.entitlements.length} permissions)</span>
                </label>
              ))}
              {flow.entitlements.map((e) => (
                <label key={key(e)} className="option">
                  <input
                    type="checkbox" checked={picked.has(key(e))} disabled={!!bundleId}
                    onChange={(ev) => { const next = new Set(picked); if (ev.target.checked) next.add(key(e)); else next.delete(key(e)); setPicked(next); }}
                  />
                  <span>{entitlementText(e)}</span>
                </label>
              ))}
              <FieldError id={`${id}-entitlements-error`} text={errors.entitlements} />
              <FieldError id={`${id}-bundleId-error`} text={errors.bundleId} />
            </fieldset>

            <label htmlFor={`${id}-duration`}>Duration</label>
            <input id={`${id}-duration`} value={duration} onChange={edit('duration', setDuration)} aria-invalid={!!errors.duration || undefined} aria-describedby={`${id}-duration-hint ${described('duration') ?? ''}`.trim()} />
            <p id={`${id}-duration-hint`} className="hint">Default {flow.defaultDuration}, at most {flow.maxDuration}.</p>
            <FieldError id={`${id}-duration-error`} text={errors.duration} />

            <label htmlFor={`${id}-justification`}>Justification{flow.requireJustification ? ' (required)' : ' (optional)'}</label>
            <textarea id={`${id}-justification`} rows={3} value={justification} onChange={edit('justification', setJustification)} aria-invalid={!!errors.justification || undefined} aria-describedby={described('justification')} />
            <FieldError id={`${id}-justification-error`} text={errors.justification} />

            <label htmlFor={`${id}-start`}>Start at (optional)</label>
            <input id={`${id}-start`} type="datetime-local" value={startAt} onChange={edit('startAt', setStartAt)} aria-invalid={!!errors.startAt || undefined} aria-describedby={described('startAt')} />
            <FieldError id={`${id}-startAt-error`} text={errors.startAt} />

            {flow.requireMfa && flow.stepUp && <p className="hint">This flow asks you to have signed in at your identity provider recently; if it has been a while, you will be asked to sign in again.</p>}
            {flow.requireMfa && !flow.stepUp && (
              <>
                <label htmlFor={`${id}-mfa`}>MFA code</label>
                <input id={`${id}-mfa`} inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={mfaCode} onChange={edit('mfaCode', setMfaCode)} aria-invalid={!!errors.mfaCode || undefined} aria-describedby={described('mfaCode')} />
                <FieldError id={`${id}-mfaCode-error`} text={errors.mfaCode} />
              </>
            )}

            {flow.breakGlass && (
              <>
                <label className="option">
                  <input type="checkbox" checked={breakGlass} onChange={(e) => setBreakGlass(e.target.checked)} aria-describedby={`${id}-bg-hint`} />
                  <span>Break-glass: grant it now without waiting for approval</span>
                </label>
                <p id={`${id}-bg-hint`} className="hint">For emergencies only: the justification is required and every approver is told at once.</p>
                <FieldError id={`${id}-breakGlass-error`} text={errors.breakGlass} />
              </>
            )}

            <FieldError id={`${id}-form-error`} text={errors.form} />
            {stepUp && <button type="button" onClick={() => void signInAgain(stepUp)} disabled={busy}>Sign in again at your identity provider</button>}
            <div className="actions">
              <button type="submit" className="primary" disabled={busy}>Request access</button>
            </div>

            <fieldset className="favorite">
              <legend>Save as favorite</legend>
              <label htmlFor={`${id}-fav`}>Favorite name</label>
              <input id={`${id}-fav`} value={favoriteName} onChange={edit('favoriteName', setFavoriteName)} aria-invalid={!!errors.favoriteName || undefined} aria-describedby={described('favoriteName')} />
              <FieldError id={`${id}-favoriteName-error`} text={errors.favoriteName} />
              <button type="button" onClick={saveFavorite}>Save as favorite</button>
              {notice && <p role="status">{notice}</p>}
            </fieldset>
          </>
        )}
      </form>
    </main>
  );
}
