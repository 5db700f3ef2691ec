// `lapse mfa`: your two-factor authentication (TOTP) for flows that require MFA: its status,
// setting it up and confirming it with a code, removing your own (with a code), and an
// admin's reset of another person's.

import { apiClient, emitter, need, UsageError, type Verb } from './args.ts';
import type { MfaEnrolmentStarted, MfaStatusView } from '../../../common/api/types.ts';

const STATUS_TEXT: Record<MfaStatusView['status'], string> = {
  none: 'not set up (lapse mfa setup)',
  pending: 'set up, waiting for a code to confirm it (lapse mfa confirm CODE)',
  enrolled: 'on: flows that require MFA ask for a code from your authenticator app',
  configured: 'on, with a secret in the server\'s configuration: the admin manages it',
  provider: 'your identity provider: flows that require MFA ask you to sign in there again (lapse login --step-up FLOW)',
};

export const mfa: Verb = async ([sub = 'status', arg], v, o) => {
  const api = apiClient(v);
  const emit = emitter(v, o);
  if (sub === 'status') {
    const s = await api.get<MfaStatusView>('/api/v1/mfa');
    emit(s, () => {
      o.line(`two-factor authentication: ${STATUS_TEXT[s.status]}`);
      if (s.confirmedAt) o.line(`confirmed ${s.confirmedAt}`);
      else if (s.startedAt) o.line(`set up ${s.startedAt}`);
    });
    return 0;
  }
  if (sub === 'setup') {
    const e = await api.post<MfaEnrolmentStarted>('/api/v1/mfa/enrolment', {});
    emit(e, () => {
      o.line('Add this to your authenticator app (shown this once):');
      o.line(`  secret: ${e.secret}`);
      o.line(`  or the URI: ${e.otpauthUri}`);
      o.line('then confirm it with the code the app shows: lapse mfa confirm CODE');
    });
    return 0;
  }
  if (sub === 'confirm') {
    const s = await api.post<MfaStatusView>('/api/v1/mfa/enrolment/confirm', { code: need(arg ?? v.mfa, 'CODE') });
    emit(s, () => o.line(`two-factor authentication: ${STATUS_TEXT[s.status]}`));
    return 0;
  }
  if (sub === 'reset') {
    if (arg !== undefined) {
      await api.delete(`/api/v1/users/${encodeURIComponent(arg)}/mfa`);
      emit({ user: arg, reset: true }, () => o.line(`the MFA factor of ${arg} is reset: they set up a new one`));
    } else {
      await api.delete('/api/v1/mfa', v.mfa ? { code: v.mfa } : {});
      emit({ reset: true }, () => o.line('your MFA factor is removed'));
    }
    return 0;
  }
  throw new UsageError('expected: lapse mfa status|setup|confirm CODE|reset [--mfa CODE]|reset USER');
};
