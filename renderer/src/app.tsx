// The shell: sign-in (portal), navigation, the connection state and the view the hash names.
// In the portal, `auth` (beside the API) offers single sign-on where the server has it: a
// session cookie signs the person in at load, and signing out ends that session (and the
// one at the provider). The desktop app has no `auth`.

import { useEffect, useState } from 'react';
import { ApiError, type LapseApi, type Me } from '../../common/lapse-api.ts';
import type { AdminApi, PortalAuth } from './api/http-api.ts';
import { useApprovals, useConnection, useSession, useCatalog, useFavorites, useRequests } from './stores.ts';
import { startLiveUpdates } from './live.ts';
import { ADMIN_VIEWS, parseRoute, useHash } from './router.ts';
import { InboxView } from './views/inbox.tsx';
import { RequestView } from './views/request.tsx';
import { AccessView } from './views/access.tsx';
import { SettingsView } from './views/settings.tsx';
import { AccountView } from './views/account.tsx';
import { SignInView } from './views/sign-in.tsx';
import { ActivityView } from './views/activity.tsx';
import { RequestPageView } from './views/request-page.tsx';
import { IntegrationsView } from './views/integrations.tsx';
import { ConfigurationView } from './views/configuration.tsx';
import { ActiveAccessView } from './views/active-access.tsx';
import { StuckRevocationsView } from './views/stuck-revocations.tsx';

/** The navigation; the admin views are shown to admins only. */
const VIEWS = [
  ['access', 'My access'],
  ['request', 'Request access'],
  ['inbox', 'Approvals'],
  ['active-access', 'Active access'],
  ['stuck-revocations', 'Stuck revocations'],
  ['activity', 'Activity'],
  ['integrations', 'Integrations'],
  ['configuration', 'Configuration'],
  ['account', 'Account'],
  ['settings', 'Settings'],
] as const;

/**
 * Whether a view is in this person's navigation: the portal's admin views need `admin` (the
 * portal's AdminApi) and the role (the server refuses the calls to others all the same).
 */
function offered(view: (typeof VIEWS)[number][0], me: Me, portal: boolean, admin: AdminApi | undefined): boolean {
  if (view === 'settings') return !portal;
  if (view === 'active-access') return !!admin && (me.roles.includes('admin') || me.roles.includes('approver'));
  if (view === 'stuck-revocations') return !!admin && me.roles.includes('admin');
  if (ADMIN_VIEWS.includes(view)) return me.roles.includes('admin');
  return true;
}

/** Shown once the connection has been down for a second (no flash while connecting or on a quick reconnect). */
function ConnectionBanner() {
  const state = useConnection((s) => s.state);
  const detail = useConnection((s) => s.detail);
  const [shown, setShown] = useState(false);
  useEffect(() => {
    if (state === 'online') return setShown(false);
    const t = setTimeout(() => setShown(true), 1000);
    return () => clearTimeout(t);
  }, [state]);
  if (state === 'online' || !shown) return null;
  return (
    <p role="status" className={`connection ${state}`}>
      {state === 'reconnecting' ? 'Reconnecting to the server…' : 'Offline: changes are not shown live.'}{detail ? ` (${detail})` : ''}
    </p>
  );
}

/** The reason a refused sign-in came back with (`?sign_in_error=`, decoded), if any. */
function signInErrorInAddress(): string | null {
  return new URLSearchParams(location.search).get('sign_in_error');
}

/** The address without `sign_in_error` (the rest of the query, the path and the hash kept), for history.replaceState. */
function addressWithoutSignInError(): string {
  const params = new URLSearchParams(location.search);
  params.delete('sign_in_error');
  const query = params.toString();
  return `${location.pathname}${query ? `?${query}` : ''}${location.hash}`;
}

export function App({ api, auth, admin }: { api: LapseApi; auth?: PortalAuth; admin?: AdminApi }) {
  const me = useSession((s) => s.me);
  const [checking, setChecking] = useState(true);
  const portal = api.host === 'portal';
  // Read once, at load; then taken out of the address bar (a reload does not show it again).
  const [signInError, setSignInError] = useState<string | null>(() => (portal ? signInErrorInAddress() : null));
  const [leaving, setLeaving] = useState(false);
  useEffect(() => {
    if (signInError !== null) history.replaceState(history.state, '', addressWithoutSignInError());
  }, []);
  const hash = useHash();
  const route = parseRoute(hash);
  const pending = useApprovals((s) => s.list.length);

  // Who am I: with a stored token or the session cookie (portal), or through main (desktop).
  useEffect(() => {
    api.me().then((m) => useSession.getState().setMe(m), () => useSession.getState().setMe(null)).finally(() => setChecking(false));
  }, []);
  useEffect(() => {
    if (!me) return;
    const stop = startLiveUpdates(api);
    void useCatalog.getState().load();
    void useApprovals.getState().load().catch(() => undefined);
    return stop;
  }, [me?.id]);

  const signOut = async () => {
    let logoutUrl: string | null = null;
    if (portal && auth && !auth.usesToken()) {
      // Signed in with a session: it ends on the server (the cookie is HttpOnly: only the server can end it).
      try {
        logoutUrl = (await auth.endSession()).logoutUrl;
      } catch (err) {
        // Already ended (expired, or ended elsewhere): signed out all the same. Else the session still holds: say so.
        if (ApiError.from(err).status !== 401) throw err;
      }
    }
    await api.clearToken();
    // Nothing of this person stays in memory for whoever signs in next.
    useRequests.setState({ list: [], loaded: false });
    useApprovals.setState({ list: [], loaded: false });
    useFavorites.setState({ favorites: [], suggestions: [], loaded: false });
    useCatalog.setState({ flows: [], loaded: false, error: null });
    if (logoutUrl) {
      // Signed out at the provider too; it sends the person back to the portal.
      setLeaving(true);
      location.assign(logoutUrl);
      return;
    }
    setSignInError(null);
    useSession.getState().setMe(null);
  };

  const isAdmin = !!me?.roles.includes('admin');

  if (checking) return <p aria-busy="true" className="loading">Loading…</p>;
  if (leaving) return <p aria-busy="true" className="loading">Signing out…</p>;
  if (!me) {
    if (portal) return <SignInView auth={auth} signInError={signInError} onSignedIn={(m: Me) => { setSignInError(null); useSession.getState().setMe(m); }} />;
    return <main><h1>Lapse</h1><p role="alert" className="error">Not connected: open Settings from the tray to set the server and token.</p><SettingsView onSignOut={signOut} /></main>;
  }
  return (
    <div className="shell">
      <header className="top">
        <h1>Lapse</h1>
        <nav aria-label="Views">
          {/* The portal has no desktop settings: its Account view (who, sign out, API tokens) stands for them. */}
          {VIEWS.filter(([view]) => offered(view, me, portal, admin)).map(([view, label]) => (
            <a key={view} href={`#/${view}`} aria-current={route.view === view ? 'page' : undefined}>
              {view === 'inbox' && pending ? `${label} (${pending})` : label}
            </a>
          ))}
        </nav>
        <span className="who">{me.name ?? me.id}</span>
      </header>
      <ConnectionBanner />
      {route.view === 'inbox' && <InboxView focusId={route.params.get('request') ?? undefined} />}
      {route.view === 'request' && <RequestView key={hash} favoriteId={route.params.get('favorite') ?? undefined} againId={route.params.get('again') ?? undefined} flowId={route.params.get('flow') ?? undefined} bundleId={route.params.get('bundle') ?? undefined} auth={auth} />}
      {route.view === 'access' && <AccessView key={hash} extendId={route.params.get('extend') ?? undefined} auth={auth} />}
      {route.view === 'requests' && <RequestPageView key={hash} id={route.params.get('id') ?? ''} />}
      {ADMIN_VIEWS.includes(route.view) && !isAdmin && (
        <main><p role="alert" className="error">This view is for admins.</p></main>
      )}
      {route.view === 'activity' && isAdmin && <ActivityView key={hash} params={route.params} />}
      {route.view === 'integrations' && isAdmin && <IntegrationsView />}
      {route.view === 'configuration' && isAdmin && <ConfigurationView />}
      {route.view === 'account' && <AccountView onSignOut={signOut} />}
      {route.view === 'settings' && <SettingsView onSignOut={signOut} />}
      {route.view === 'active-access' && (offered('active-access', me, portal, admin)
        ? <ActiveAccessView key={me.id} admin={admin!} me={me} />
        : <main><p role="alert" className="error">Active access is for admins and approvers.</p></main>)}
      {route.view === 'stuck-revocations' && (offered('stuck-revocations', me, portal, admin)
        ? <StuckRevocationsView admin={admin!} />
        : <main><p role="alert" className="error">Stuck revocations are for admins.</p></main>)}
    </div>
  );
}
