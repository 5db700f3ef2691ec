// The shell: sign-in (portal), navigation, the connection state and the view the hash names.

import { useEffect, useState } from 'react';
import type { LapseApi, Me } from '../../common/lapse-api.ts';
import { useApprovals, useConnection, useSession, useCatalog, useFavorites, useRequests } from './stores.ts';
import { startLiveUpdates } from './live.ts';
import { parseRoute, useHash } from './router.ts';
import { InboxView } from './views/inbox.tsx';
import { RequestView } from './views/request.tsx';
import { AccessView } from './views/access.tsx';
import { SettingsView } from './views/settings.tsx';
import { SignInView } from './views/sign-in.tsx';

const VIEWS = [
  ['access', 'My access'],
  ['request', 'Request access'],
  ['inbox', 'Approvals'],
  ['settings', 'Settings'],
] as const;

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

export function App({ api }: { api: LapseApi }) {
  const me = useSession((s) => s.me);
  const [checking, setChecking] = useState(true);
  const hash = useHash();
  const route = parseRoute(hash);
  const pending = useApprovals((s) => s.list.length);

  // Who am I: with a stored token (portal) or through main (desktop).
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
    await api.clearToken();
    // Nothing of this person stays in memory for whoever signs in next.
    useRequests.setState({ list: [], loaded: false });
    useApprovals.setState({ list: [], loaded: false });
    useFavorites.setState({ favorites: [], suggestions: [], loaded: false });
    useCatalog.setState({ flows: [], loaded: false, error: null });
    useSession.getState().setMe(null);
  };

  if (checking) return <p aria-busy="true" className="loading">Loading…</p>;
  if (!me) {
    if (api.host === 'portal') return <SignInView onSignedIn={(m: Me) => useSession.getState().setMe(m)} />;
    return <main><h1>Lapse</h1><p role="alert" className="error">Not connected: open Settings from the tray to set the server and token.</p><SettingsView onSignOut={signOut} /></main>;
  }
  return (
    <div className="shell">
      <header className="top">
        <h1>Lapse</h1>
        <nav aria-label="Views">
          {VIEWS.map(([view, label]) => (
            <a key={view} href={`#/${view}`} aria-current={route.view === view ? 'page' : undefined}>
              {view === 'inbox' && pending ? `${label} (${pending})` : view === 'settings' && api.host === 'portal' ? 'Account' : label}
            </a>
          ))}
        </nav>
        <span className="who">{me.name ?? me.id}</span>
      </header>
      <ConnectionBanner />
      {route.view === 'inbox' && <InboxView focusId={route.params.get('request') ?? undefined} />}
      {route.view === 'request' && <RequestView key={hash} favoriteId={route.params.get('favorite') ?? undefined} flowId={route.params.get('flow') ?? undefined} bundleId={route.params.get('bundle') ?? undefined} />}
      {route.view === 'access' && <AccessView />}
      {route.view === 'settings' && <SettingsView onSignOut={signOut} />}
    </div>
  );
}
