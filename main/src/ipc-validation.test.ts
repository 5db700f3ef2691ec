import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAPSE_API_METHODS, LAPSE_CALL_CHANNEL_PREFIX } from '../../common/lapse-api.ts';
import { IpcPayloadError, methodOfChannel, validateCall } from './ipc-validation.ts';

const pathOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof IpcPayloadError, String(err));
    return err.path;
  }
  assert.fail('expected the payload to be refused');
};

test('channels: only the API’s methods, by their prefix', () => {
  for (const m of LAPSE_API_METHODS) assert.equal(methodOfChannel(`${LAPSE_CALL_CHANNEL_PREFIX}${m}`), m);
  for (const bad of ['lapse:call:constructor', 'lapse:call:__proto__', 'lapse:call:subscribe', 'lapse:call:', 'other:me', 'me', 42, null]) {
    assert.equal(pathOf(() => methodOfChannel(bad)), 'channel', String(bad));
  }
});

test('good calls pass, with optional arguments left out', () => {
  assert.deepEqual(validateCall('me', []), []);
  assert.deepEqual(validateCall('approve', ['r-1', undefined]), ['r-1']);
  validateCall('approve', ['req_01HX', 'looks fine']);
  validateCall('createRequest', [{ flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }], duration: '1h30m', justification: 'incident 7', startAt: '2026-01-05T12:00:00Z', mfaCode: '123456' }]);
  validateCall('listMyRequests', [{ statuses: ['active', 'pending'], limit: 50 }]);
  validateCall('extend', ['r1', '30m']);
  validateCall('requestFromFavorite', ['fav1', { justification: 'again' }]);
  validateCall('updateSettings', [{ extraReminderMinutes: [5, 2], doNotDisturb: true }]);
  validateCall('updateSettings', [{ extraReminderMinutes: [] }]);
  validateCall('setNotifications', [{ chat: false }]);
  validateCall('setNotifications', [{ email: true, chat: true }]);
  validateCall('createFavorite', [{ name: 'mine', fromRequestId: 'r1' }]);
  validateCall('setToken', ['lapse_abcdefabcdef_secret']);
  assert.deepEqual(validateCall('signInWithSso', []), []);
  assert.deepEqual(validateCall('signInWithSso', ['demo-auto']), ['demo-auto']);
  assert.deepEqual(validateCall('ssoAvailable', [undefined]), []);
  assert.deepEqual(validateCall('listTokens', []), []);
  validateCall('createToken', [{ name: 'laptop' }]);
  validateCall('createToken', [{ name: 'x'.repeat(200), expiresIn: '30d' }]);
  validateCall('revokeToken', ['tok_01HX']);
});

test('API tokens: a name of 1 to 200 characters, an optional lifetime, nothing else; a bounded id', () => {
  assert.equal(pathOf(() => validateCall('createToken', [{ name: 'laptop', kind: 'service' }])), 'createToken(args[0]).kind', 'no service token from the renderer');
  assert.equal(pathOf(() => validateCall('createToken', [{ name: 'laptop', user: 'bob' }])), 'createToken(args[0]).user');
  assert.equal(pathOf(() => validateCall('createToken', [{ name: 'x'.repeat(201) }])), 'createToken(args[0]).name');
  assert.equal(pathOf(() => validateCall('createToken', [{ name: '' }])), 'createToken(args[0]).name');
  assert.equal(pathOf(() => validateCall('createToken', [{ expiresIn: '30d' }])), 'createToken(args[0]).name');
  assert.equal(pathOf(() => validateCall('createToken', [{ name: 'laptop', expiresIn: '1'.repeat(41) }])), 'createToken(args[0]).expiresIn');
  assert.equal(pathOf(() => validateCall('createToken', [{ name: 'laptop', expiresIn: 30 }])), 'createToken(args[0]).expiresIn');
  assert.equal(pathOf(() => validateCall('createToken', [])), 'createToken(args[0])');
  assert.equal(pathOf(() => validateCall('revokeToken', ['x'.repeat(129)])), 'revokeToken(args[0])');
  assert.equal(pathOf(() => validateCall('revokeToken', [7])), 'revokeToken(args[0])');
  assert.equal(pathOf(() => validateCall('listTokens', [{ user: '*' }])), 'listTokens');
});

test('two-factor authentication: a code of exactly 6 digits, no user to name, nothing else', () => {
  assert.deepEqual(validateCall('mfaStatus', []), []);
  assert.deepEqual(validateCall('startMfaEnrolment', []), []);
  assert.deepEqual(validateCall('confirmMfaEnrolment', ['012345']), ['012345']);
  assert.deepEqual(validateCall('removeMfa', []), []);
  assert.deepEqual(validateCall('removeMfa', [undefined]), []);
  assert.deepEqual(validateCall('removeMfa', ['654321']), ['654321']);
  for (const bad of ['12345', '1234567', '12345a', '１２３４５６', ' 123456', '1'.repeat(100_000), 123456, null, { code: '123456' }]) {
    assert.equal(pathOf(() => validateCall('confirmMfaEnrolment', [bad])), 'confirmMfaEnrolment(args[0])', JSON.stringify(bad).slice(0, 40));
    assert.equal(pathOf(() => validateCall('removeMfa', [bad])), 'removeMfa(args[0])', JSON.stringify(bad).slice(0, 40));
  }
  assert.equal(pathOf(() => validateCall('confirmMfaEnrolment', [])), 'confirmMfaEnrolment(args[0])');
  assert.equal(pathOf(() => validateCall('removeMfa', ['123456', 'bob'])), 'removeMfa', 'no other person to name');
  assert.equal(pathOf(() => validateCall('startMfaEnrolment', ['bob'])), 'startMfaEnrolment');
});

test('bad calls are refused, naming the argument and field at fault', () => {
  assert.equal(pathOf(() => validateCall('me', ['extra'])), 'me');
  assert.equal(pathOf(() => validateCall('getRequest', [])), 'getRequest(args[0])');
  assert.equal(pathOf(() => validateCall('getRequest', [{ id: 'x' }])), 'getRequest(args[0])');
  assert.equal(pathOf(() => validateCall('getRequest', ['../../admin'])), 'getRequest(args[0])');
  assert.equal(pathOf(() => validateCall('approve', ['r1', 'x'.repeat(1001)])), 'approve(args[1])');
  assert.equal(pathOf(() => validateCall('createRequest', [{}])), 'createRequest(args[0]).flowId');
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', admin: true }])), 'createRequest(args[0]).admin');
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', entitlements: [{ integration: 'demo', resourceType: 'db', resource: 'app' }] }])), 'createRequest(args[0]).entitlements[0].permission');
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', duration: 'forever' }])), 'createRequest(args[0]).duration');
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', mfaCode: '12ab56' }])), 'createRequest(args[0]).mfaCode');
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', startAt: 'tomorrow' }])), 'createRequest(args[0]).startAt');
  assert.equal(pathOf(() => validateCall('listMyRequests', [{ statuses: ['active', 'hacked'] }])), 'listMyRequests(args[0]).statuses[1]');
  assert.equal(pathOf(() => validateCall('listMyRequests', [{ limit: 1e6 }])), 'listMyRequests(args[0]).limit');
  assert.equal(pathOf(() => validateCall('updateSettings', [{ token: 'x' }])), 'updateSettings(args[0]).token');
  assert.equal(pathOf(() => validateCall('setNotifications', [{ chat: 'off' }])), 'setNotifications(args[0]).chat');
  assert.equal(pathOf(() => validateCall('setNotifications', [{ email: false, userId: 'bob' }])), 'setNotifications(args[0]).userId', 'nobody chooses for someone else');
  assert.equal(pathOf(() => validateCall('updateSettings', [{ extraReminderMinutes: [10, -1] }])), 'updateSettings(args[0]).extraReminderMinutes[1]');
  assert.equal(pathOf(() => validateCall('updateSettings', [{ notificationOffsetsMinutes: [10, 1] }])), 'updateSettings(args[0]).notificationOffsetsMinutes', 'the old name is no setting any more');
  assert.equal(pathOf(() => validateCall('setToken', ['has a space'])), 'setToken(args[0])');
  assert.equal(pathOf(() => validateCall('extend', ['r1'])), 'extend(args[1])');
  // Single sign-on takes nothing from the renderer but a flow id (a step-up): the server is the configured one, the token stays in main.
  assert.equal(pathOf(() => validateCall('signInWithSso', ['https://elsewhere.example'])), 'signInWithSso(args[0])');
  assert.equal(pathOf(() => validateCall('signInWithSso', [{ serverUrl: 'https://elsewhere.example' }])), 'signInWithSso(args[0])');
  assert.equal(pathOf(() => validateCall('signInWithSso', ['demo-auto', 'more'])), 'signInWithSso');
  assert.equal(pathOf(() => validateCall('ssoAvailable', ['x'])), 'ssoAvailable');
  assert.equal(pathOf(() => validateCall('createRequest', 'not-a-list' as unknown as unknown[])), 'createRequest');
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', entitlements: Array.from({ length: 1001 }, () => ({ integration: 'd', resourceType: 't', resource: 'r', permission: 'p' })) }])), 'createRequest(args[0]).entitlements');
});

test('only own fields of plain objects count: inherited names and other prototypes are refused', () => {
  // Names every object inherits: as fields they are unexpected, never silently accepted.
  for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
    assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', [name]: 'x' }])), `createRequest(args[0]).${name}`, name);
    assert.equal(pathOf(() => validateCall('updateSettings', [{ doNotDisturb: true, [name]: 'x' }])), `updateSettings(args[0]).${name}`, name);
  }
  // JSON.parse makes "__proto__" an own property (an object literal would set the prototype instead).
  const polluted = JSON.parse('{"flowId": "f", "__proto__": {"admin": true}}') as unknown;
  assert.ok(Object.hasOwn(polluted as object, '__proto__'));
  assert.equal(pathOf(() => validateCall('createRequest', [polluted])), 'createRequest(args[0]).__proto__');
  const entitlement = JSON.parse('{"integration": "demo", "resourceType": "db", "resource": "app", "permission": "read", "__proto__": {}}') as unknown;
  assert.equal(pathOf(() => validateCall('createRequest', [{ flowId: 'f', entitlements: [entitlement] }])), 'createRequest(args[0]).entitlements[0].__proto__');
  assert.equal(pathOf(() => validateCall('requestFromFavorite', ['fav1', JSON.parse('{"__proto__": {"justification": "x"}}')])), 'requestFromFavorite(args[1]).__proto__');

  // A required field that is only inherited is missing; an object with another prototype is refused as a whole.
  assert.equal(pathOf(() => validateCall('createRequest', [Object.create({ flowId: 'f' })])), 'createRequest(args[0])');
  class Payload { flowId = 'f'; }
  assert.equal(pathOf(() => validateCall('createRequest', [new Payload()])), 'createRequest(args[0])');
  assert.equal(pathOf(() => validateCall('createRequest', [new Map([['flowId', 'f']])])), 'createRequest(args[0])');
  assert.equal(pathOf(() => validateCall('createRequest', [new Date()])), 'createRequest(args[0])');

  // Objects without a prototype, and plain ones, pass.
  validateCall('createRequest', [Object.assign(Object.create(null), { flowId: 'f', justification: 'incident 7' })]);
  validateCall('createRequest', [JSON.parse('{"flowId": "f"}')]);
});

test('method names: only the API’s own, never a name every object inherits', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
    assert.equal(pathOf(() => methodOfChannel(`${LAPSE_CALL_CHANNEL_PREFIX}${name}`)), 'channel', name);
    assert.equal(pathOf(() => validateCall(name, [])), name, name);
  }
});
