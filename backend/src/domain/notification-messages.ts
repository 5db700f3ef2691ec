// What a notification says, per channel: an email's subject, text and HTML; a Slack message;
// a Microsoft Teams card; a lifecycle webhook's JSON body. From the outbox row's message
// alone (the request as it was at the transition), never a credential: a granted request is
// a link to the portal, where its access details are shown to the requester.

import type { NotificationMessage, RequestSummary } from './notifications.ts';

const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
/** One line: no control characters (a subject or a chat line cannot be split or forged). */
const line = (v: unknown) => text(v).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();

function minutes(ms: unknown): string {
  const m = Math.max(1, Math.round(Number(ms) / 60_000));
  return m >= 120 ? `${Math.round(m / 60)} h` : `${m} min`;
}

/** The one-line headline of a message, for a subject or a chat message's first line. */
export function headline(m: NotificationMessage): string {
  const r = m.request;
  const who = line(r?.requesterName ?? r?.requester ?? 'someone');
  const what = line(r?.flowName ?? r?.flowId ?? 'access');
  const by = m.detail.by ? ` by ${line(m.detail.by)}` : '';
  const reason = m.detail.reason ? `: ${line(m.detail.reason)}` : '';
  switch (m.event) {
    case 'approval.requested': return `${who} asks for ${what}: your decision is needed`;
    case 'approval.reminder': return `Still waiting for your decision: ${who} asks for ${what}`;
    case 'approval.decided': return `${who}'s request for ${what} was ${line(m.detail.outcome)}${by}`;
    case 'request.break_glass': return `Break-glass: ${who} took ${what} without waiting for approval${reason}`;
    case 'request.approved': return m.role === 'channel' ? `${who}'s request for ${what} was approved${by}` : `Your request for ${what} was approved${by}`;
    case 'request.denied': return m.role === 'channel' ? `${who}'s request for ${what} was denied${by}${reason}` : `Your request for ${what} was denied${by}${reason}`;
    case 'request.granted': return `Your access to ${what} is active`;
    case 'request.failed': return `Your access to ${what} could not be granted${m.detail.error ? `: ${line(m.detail.error)}` : ''}`;
    case 'request.expiring': return `Your access to ${what} ends in ${minutes(m.detail.msLeft)}`;
    case 'request.expired': return `Your access to ${what} has ended`;
    case 'request.revoked': return `Your access to ${what} was revoked${by}${reason}`;
    case 'request.canceled': return m.role === 'requester' ? `Your request for ${what} was canceled${by}${reason}` : `${who} withdrew their request for ${what}`;
    case 'request.timed_out': return m.role === 'requester' ? `Your request for ${what} timed out: nobody decided in time` : `${who}'s request for ${what} timed out: nobody decided in time`;
    case 'extension.requested': return `${who} asks to extend ${what}${m.detail.duration ? ` by ${line(m.detail.duration)}` : ''}: your decision is needed`;
    case 'extension.approved': return `Your extension of ${what} was approved${by}`;
    case 'extension.denied': return `Your extension of ${what} was denied${by}${reason}`;
    case 'extension.timed_out': return `Your extension of ${what} timed out: nobody decided in time`;
    case 'revoke.failing': return `Revoking ${who}'s ${what} keeps failing${m.detail.integration ? ` on ${line(m.detail.integration)}` : ''}${m.detail.error ? `: ${line(m.detail.error)}` : ''}`;
    case 'reconcile.fixed': return `Reconciliation removed access no request covers${m.detail.account ? ` (${line(m.detail.account)})` : ''}`;
    case 'delivery.failed': return `A notification could not be delivered to ${line(m.detail.channel)}${m.detail.error ? `: ${line(m.detail.error)}` : ''}`;
    default: return `${line(m.event)}: ${who}, ${what}`;
  }
}

/** The facts of a request, as label and value lines (empty values left out). */
export function facts(r: RequestSummary | null): [string, string][] {
  if (!r) return [];
  const rows: [string, string][] = [
    ['Requester', r.requesterName === r.requester ? r.requester : `${r.requesterName} (${r.requester})`],
    ['Flow', r.flowName === r.flowId ? r.flowId : `${r.flowName} (${r.flowId})`],
    ['Bundle', r.bundleId ?? ''],
    ['Integrations', r.integrations.join(', ')],
    ['Access', r.entitlements.join(', ')],
    ['Duration', r.duration],
    ['Justification', r.justification ?? ''],
    ['May approve', r.approvers.length ? `${r.approvers.join(', ')}${r.why.length ? ` (${r.why.join('; ')})` : ''}` : ''],
  ];
  return rows.filter(([, v]) => v !== '').map(([k, v]) => [k, line(v)]);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function emailContent(m: NotificationMessage): { subject: string; text: string; html: string } {
  const subject = `[Lapse] ${headline(m)}`.slice(0, 200);
  const rows = facts(m.request);
  const textBody = [headline(m), '', ...rows.map(([k, v]) => `${k}: ${v}`), ...(m.link ? ['', `Open it in Lapse: ${m.link}`] : [])].join('\n');
  const html = [
    `<p>${escapeHtml(headline(m))}</p>`,
    rows.length ? `<table>${rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>` : '',
    m.link ? `<p><a href="${escapeHtml(m.link)}">Open it in Lapse</a></p>` : '',
  ].join('\n');
  return { subject, text: textBody + '\n', html };
}

/** Slack's mrkdwn treats &, < and > specially: escaped as its documentation says. */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function slackPayload(m: NotificationMessage): Record<string, unknown> {
  const rows = facts(m.request);
  return {
    text: slackEscape(headline(m)),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${slackEscape(headline(m))}*` } },
      ...(rows.length ? [{ type: 'section', fields: rows.slice(0, 10).map(([k, v]) => ({ type: 'mrkdwn', text: `*${slackEscape(k)}*\n${slackEscape(v)}` })) }] : []),
      ...(m.link ? [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in Lapse' }, url: m.link }] }] : []),
    ],
  };
}

/** An Adaptive Card in the message shape Teams incoming webhooks (workflows) take. */
export function teamsPayload(m: NotificationMessage): Record<string, unknown> {
  const rows = facts(m.request);
  return {
    type: 'message',
    attachments: [{
      contentType: 'application/vnd.microsoft.card.adaptive',
      content: {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4',
        body: [
          { type: 'TextBlock', text: headline(m), weight: 'Bolder', wrap: true },
          ...(rows.length ? [{ type: 'FactSet', facts: rows.map(([title, value]) => ({ title, value })) }] : []),
        ],
        ...(m.link ? { actions: [{ type: 'Action.OpenUrl', title: 'Open in Lapse', url: m.link }] } : {}),
      },
    }],
  };
}

/** A lifecycle webhook's body: the event, its ids, and the request as it was. */
export function webhookBody(m: NotificationMessage, key: string): Record<string, unknown> {
  return { type: m.event, id: m.eventId, idempotencyKey: key, at: new Date(m.at).toISOString(), request: m.request, detail: m.detail, link: m.link };
}
