import './styles.css';
// Entry point: the desktop app's preload exposes the API as `window.lapse`; without it this
// is the web portal, talking to the server that served it (and signing in through it).

import { createRoot } from 'react-dom/client';
import { LAPSE_API_GLOBAL, type LapseApi } from '../../common/lapse-api.ts';
import { createHttpApi } from './api/http-api.ts';
import { setApi } from './stores.ts';
import { App } from './app.tsx';

// The portal's index.html carries the CSP nonce for the one <style> element the dialogs'
// scroll lock inserts (react-style-singleton reads it from this global).
const nonce = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.content;
if (nonce) (globalThis as { __webpack_nonce__?: string }).__webpack_nonce__ = nonce;

const exposed = (window as unknown as Record<string, LapseApi | undefined>)[LAPSE_API_GLOBAL];
const http = exposed ? undefined : createHttpApi({ storage: window.sessionStorage });
const api: LapseApi = exposed ?? http!;
setApi(api);
createRoot(document.getElementById('root')!).render(<App api={api} auth={http?.auth} admin={http?.admin} />);
