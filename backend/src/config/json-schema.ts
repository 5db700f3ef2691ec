// The configuration file's shape as JSON Schema (draft-07), for editors: completion,
// hover text and early red squiggles. backend/config.schema.json is this object written
// out by write-json-schema.ts (a test keeps the two equal).
//
// The loader (load.ts) stays the authority: it also checks what a schema cannot say
// well (references between ids, durations against each other, time zones the runtime
// knows, real calendar dates). Anything the loader accepts, this schema accepts too.

import { CONDITION_OPS, INTEGRATION_TYPES, WEEKDAYS } from '../domain/config.ts';
import { auditStreamSchema } from './audit-stream.ts';
import { BUILT_IN_ATTRIBUTES } from './identities.ts';
import { SECRET_WORDS } from './integrations.ts';
import { ID_PATTERN } from './yaml-reader.ts';

type Schema = Record<string, unknown>;

function object(description: string, properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', description, properties, ...(required.length > 0 ? { required } : {}), additionalProperties: false };
}

function array(description: string, items: Schema, minItems = 0): Schema {
  return { type: 'array', description, items, ...(minItems > 0 ? { minItems } : {}) };
}

function string(description: string, extra: Schema = {}): Schema {
  return { type: 'string', description, ...extra };
}

function boolean(description: string, defaultValue: boolean): Schema {
  return { type: 'boolean', description, default: defaultValue };
}

const ref = (name: string, description?: string): Schema => ({ $ref: `#/definitions/${name}`, ...(description ? { description } : {}) });

/** A case-insensitive regex source for `word` (JSON Schema patterns take no flags). */
function anyCase(word: string): string {
  return [...word].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join('');
}

/** A connection key whose last word names a secret: password, db_password, adminPassword, API_KEY. */
const SECRET_KEY_PATTERN =
  `^(?:.*[_\\-\\s])?(?:${SECRET_WORDS.map(anyCase).join('|')})$` +
  `|[a-z0-9](?:${SECRET_WORDS.map((w) => w[0].toUpperCase() + anyCase(w.slice(1))).join('|')})$`;
const URL_WITH_PASSWORD_PATTERN = '^[A-Za-z][A-Za-z0-9+.-]*://[^/@:\\s]*:[^/@\\s]+@';

const DURATION = '^(?=\\d)(?:\\d+w)?(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?$';

/** The connection keys of each integration type (config/connection.ts checks them in full). */
function connectionDefinitions(): Record<string, Schema> {
  const integer = (description: string, minimum: number, maximum: number): Schema => ({ type: 'integer', description, minimum, maximum });
  const port = (description: string) => integer(description, 1, 65535);
  const ms = (description: string) => integer(`${description} (milliseconds).`, 1, 3_600_000);
  const host = (description: string) => string(description, { minLength: 1 });
  const envName = (what: string) => string(`The environment variable that holds the ${what}.`, { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' });
  const file = (what: string) => string(`A file that holds the ${what} (one trailing newline ignored).`, { minLength: 1 });
  const prefix = string('Prefix of the logins / ACL users Lapse creates; default "lapse_". Only logins with it are ever listed or removed.', { pattern: '^[a-z_][a-z0-9_]{0,15}$' });
  const privileges = array('Privileges.', string('A privilege, e.g. SELECT.', { pattern: '^[A-Za-z][A-Za-z ]*$' }));
  const sql = {
    host: host('The server (required).'), port: port('The port.'), user: string('The user Lapse connects as (required).', { minLength: 1 }),
    passwordEnv: envName('password'), passwordFile: file('password'),
    accessHost: host('The host requesters are told to connect to; default host.'), accessPort: port('The port requesters are told; default port.'),
    rolePrefix: prefix, connectTimeoutMs: ms('Connect timeout'),
    discoverDatabases: array('The databases discovery looks into; default every one the user may connect to.', string('A database name.', { minLength: 1 }), 1),
  };
  return {
    connection_demo: object('The demo integration\'s connection.', { faultsFile: file('faults to inject (tests)'), recordFile: file('where the demo target keeps its record; several replicas share one (default: demo-<id>.db in the data directory)') }),
    connection_postgresql: object('A PostgreSQL server.', {
      ...sql, database: string('Where roles are managed; default "postgres".', { minLength: 1 }),
      permissions: { type: 'object', description: 'Permission → privileges by level.', additionalProperties: object('Privileges by level.', { database: privileges, schema: privileges, table: privileges, sequence: privileges }) },
      ssl: boolean('Connect with TLS.', false), statementTimeoutMs: ms('Statement timeout'),
    }, ['host', 'user']),
    connection_mysql: object('A MySQL or MariaDB server.', {
      ...sql, userHost: string('Host part of the users Lapse creates; default "%".', { minLength: 1 }),
      bookkeepingDatabase: string('The database holding Lapse\'s record of the users it created; default "lapse".', { minLength: 1 }),
      permissions: { type: 'object', description: 'Permission → privileges.', additionalProperties: privileges },
    }, ['host', 'user']),
    connection_redis: object('A Redis server (ACL users).', {
      host: host('The server; default 127.0.0.1.'), port: port('The port; default 6379.'), user: string('The ACL user Lapse connects as.', { minLength: 1 }),
      passwordEnv: envName('password'), passwordFile: file('password'),
      accessHost: host('The host requesters are told; default host.'), accessPort: port('The port requesters are told; default port.'),
      rolePrefix: prefix, timeoutMs: ms('Connect and command timeout; default 5000'),
      permissions: {
        type: 'object', description: 'Permission → which keys and which commands.',
        additionalProperties: object('ACL rules of one permission.', {
          keys: { description: 'Key access on the prefix.', enum: ['read', 'write', 'readwrite'] },
          commands: array('ACL command rules: +@category, -@category, +command, -command|subcommand.', string('An ACL command rule.', { pattern: '^[+-](@[a-z]+|[a-z][a-z0-9_-]*(\\|[a-z][a-z0-9_-]*)?)$' })),
        }, ['keys', 'commands']),
      },
    }),
    connection_webhook: object('An HTTP receiver of signed grant and revoke calls.', {
      url: string('The URL calls are POSTed to (http or https, no credentials in it).', { pattern: '^[hH][tT][tT][pP][sS]?://' }),
      secretEnv: envName('HMAC signing key'), secretFile: file('HMAC signing key'), timeoutMs: ms('Per call; default 10000'),
    }, ['url']),
    connection_command: object('An executable run for each grant and revoke, the request as JSON on stdin.', {
      path: string('Absolute path of the executable (no shell, no PATH search).', { pattern: '^/' }),
      args: array('Fixed arguments.', { type: 'string' }),
      env: { type: 'object', description: 'Extra environment variables (fixed strings).', propertyNames: { pattern: '^(?!LAPSE_)[A-Za-z_][A-Za-z0-9_]*$' }, additionalProperties: ref('scalarText') },
      secretEnv: envName('secret handed over as LAPSE_COMMAND_SECRET'), secretFile: file('secret handed over as LAPSE_COMMAND_SECRET'),
      timeoutMs: ms('Per run; default 30000'), list: boolean('The executable answers action "list".', false),
      listResources: boolean('The executable answers action "resources": discovery asks it for the resources it offers.', false),
    }, ['path']),
  };
}

const definitions: Record<string, Schema> = {
  id: string('An id: letters, digits, ".", "_", "-", "@", starting with a letter or digit.', { pattern: ID_PATTERN.source }),
  duration: string('A duration: <integer><unit> parts, units w, d, h, m, s, largest first ("45s", "90m", "1h30m", "2d").', { pattern: DURATION }),
  durationOrIndefinite: {
    description: 'A duration ("1h", "1h30m", "2d") or "indefinite".',
    anyOf: [ref('duration'), { const: 'indefinite' }],
  },
  timeOfDay: string('A local time of day, "HH:MM" (00:00–23:59).', { pattern: '^([01]?\\d|2[0-3]):[0-5]\\d$' }),
  timeZone: string('An IANA time zone name, e.g. "UTC" or "Europe/Berlin".', { minLength: 1 }),
  scalarText: { description: 'A value, read as a string.', anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
  owner: {
    description: 'The owner: one user or one group. Owners can be asked to approve (condition attribute "owner").',
    oneOf: [
      object('A user owner.', { user: ref('id', 'A user id.') }, ['user']),
      object('A group owner.', { group: ref('id', 'A group id.') }, ['group']),
    ],
  },
  condition: {
    ...object(
      'One "attribute op value" row. Only manager and owner conditions of approvers may omit value: "the requester\'s manager", "the owner".',
      {
        attribute: string('user, email, group, manager, shift, owner, or the name of a custom user attribute.', {
          minLength: 1,
          examples: BUILT_IN_ATTRIBUTES,
        }),
        op: { description: 'The comparison; default "is".', enum: [...CONDITION_OPS], default: 'is' },
        value: {
          description: 'One value or a list of alternatives (is: any of them matches).',
          anyOf: [ref('scalarText'), array('Alternatives.', ref('scalarText'))],
        },
      },
      ['attribute'],
    ),
    // Only manager and owner may go without a value.
    if: { properties: { attribute: { not: { enum: ['manager', 'owner'] } } } },
    then: { required: ['value'] },
  },
  conditionGroup: object(
    'Conditions combined with all (AND) or any (OR).',
    {
      match: { description: 'all = every condition holds, any = at least one holds; default all.', enum: ['all', 'any'], default: 'all' },
      conditions: array('The conditions.', ref('condition')),
    },
    ['conditions'],
  ),
  resourceScope: {
    description: 'Which resources of the type: any (also future ones), any except some, names, tags (all must match) or parents (everything under them).',
    oneOf: [
      { const: 'any', description: 'Every resource of the type, now and later.' },
      object('Every resource except these names.', { except: array('Names.', string('A resource name.', { minLength: 1 }), 1) }, ['except']),
      object('Only these resources.', { names: array('Names.', string('A resource name.', { minLength: 1 }), 1) }, ['names']),
      object('Resources carrying all these tags.', { tags: { type: 'object', description: 'Tag name → value.', minProperties: 1, additionalProperties: ref('scalarText') } }, ['tags']),
      object('Everything under these resources, now and later.', { parents: array('Resource paths ("app" or "app/public").', string('A resource path.', { minLength: 1 }), 1) }, ['parents']),
    ],
  },
  targetSelector: object(
    'One integration, one resource type, a resource scope and one or more permissions.',
    {
      integration: ref('id', 'An integration id.'),
      resourceType: string('A resource type of that integration, e.g. database.', { minLength: 1 }),
      resources: ref('resourceScope'),
      permissions: array('Permissions of that resource type, e.g. read.', string('A permission.', { minLength: 1 }), 1),
    },
    ['integration', 'resourceType', 'resources', 'permissions'],
  ),
  flowTarget: {
    description: 'A target selector, or a bundle.',
    oneOf: [ref('targetSelector'), object('A bundle, requested whole or in part.', { bundle: ref('id', 'A bundle id.') }, ['bundle'])],
  },
  approval: {
    description: 'How requests are approved: automatic, or by approver groups.',
    oneOf: [
      { const: 'automatic', description: 'Granted without approval.' },
      object('Granted without approval.', { mode: { const: 'automatic' } }, ['mode']),
      object(
        'Approved by people matching approver groups.',
        {
          mode: { description: 'anyOf: one approval from any group; allOf: one approval from each group.', enum: ['anyOf', 'allOf'] },
          groups: array('Approver groups, each with at least one condition.', {
            allOf: [ref('conditionGroup'), { type: 'object', properties: { conditions: { type: 'array', minItems: 1 } } }],
          }, 1),
        },
        ['mode', 'groups'],
      ),
    ],
  },
  user: object(
    'A person who may request or approve access.',
    {
      id: ref('id'),
      email: string('Email address.', { pattern: '^[^@\\s]+@[^@\\s]+$' }),
      name: string('Display name; default the id.', { minLength: 1 }),
      groups: array('Group ids; a group listed here exists without being declared.', ref('id')),
      manager: ref('id', 'The user id of this user\'s manager (condition attribute "manager").'),
      attributes: {
        type: 'object',
        description: 'Free attributes, usable in conditions by their name: a string or a list of strings.',
        propertyNames: { not: { enum: BUILT_IN_ATTRIBUTES } },
        additionalProperties: { anyOf: [ref('scalarText'), array('Values.', ref('scalarText'))] },
      },
      mfa: {
        ...object('Where the base32 TOTP secret of this user is, for flows requiring MFA: the admin then holds it. Without it the user sets up their own (self-enrolment).', {
          totpSecretEnv: string('Name of an environment variable holding the secret.', { minLength: 1 }),
          totpSecretFile: string('Path of a file holding the secret.', { minLength: 1 }),
        }),
        minProperties: 1,
      },
    },
    ['id', 'email'],
  ),
  group: object('A group, declared to give it a display name.', { id: ref('id'), name: string('Display name; default the id.', { minLength: 1 }) }, ['id']),
  shift: object(
    'An on-call rotation.',
    {
      id: ref('id'),
      timezone: ref('timeZone', 'Time zone of the hand-off time and the anchor date.'),
      rotation: { description: 'How long each member is on shift.', enum: ['daily', 'weekly'] },
      handoff: ref('timeOfDay', 'Local time at which the next member takes over, "HH:MM".'),
      members: array('User ids, in rotation order.', ref('id'), 1),
      anchor: string('Local date "YYYY-MM-DD" on which the first member\'s first shift starts at the hand-off time.', { pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
    },
    ['id', 'timezone', 'rotation', 'handoff', 'members', 'anchor'],
  ),
  tagRule: {
    ...object(
      'Tags given to the discovered resources it matches: by path pattern (path) or everything under a path (parent), optionally of one type.',
      {
        path: string('A path pattern: * stands for any characters within a segment, ** for any across segments ("app/public/*").', { minLength: 1 }),
        parent: string('Everything under this resource path ("app/public").', { minLength: 1 }),
        type: string('Only resources of this type.', { minLength: 1 }),
        tags: { type: 'object', description: 'Tag name → value.', additionalProperties: ref('scalarText') },
      },
      ['tags'],
    ),
    oneOf: [{ required: ['path'] }, { required: ['parent'] }],
  },
  resource: object(
    'A declared resource. Its path is parent/name, or name alone.',
    {
      type: string('A resource type of the integration.', { minLength: 1 }),
      name: string('The name, without "/".', { pattern: '^[^/]+$' }),
      parent: string('The path of a declared resource of the same integration ("app", "app/public").', { minLength: 1 }),
      tags: { type: 'object', description: 'Tag name → value; default {}.', additionalProperties: ref('scalarText') },
      owner: ref('owner'),
    },
    ['type', 'name'],
  ),
  integration: object(
    'A connection to a target system where access is granted and revoked.',
    {
      id: ref('id'),
      type: { description: 'The kind of target system.', enum: [...INTEGRATION_TYPES] },
      name: string('Display name; default the id.', { minLength: 1 }),
      owner: ref('owner'),
      connection: {
        type: 'object',
        description:
          'Type-specific connection settings. Secrets only by reference: a key such as password, secret, token, apiKey or key is refused; use passwordEnv (an environment variable) or passwordFile (a file path).',
        propertyNames: { not: { pattern: SECRET_KEY_PATTERN } },
        additionalProperties: { not: { type: 'string', pattern: URL_WITH_PASSWORD_PATTERN } },
      },
      resourceTypes: {
        type: 'object',
        description: "The resource types this integration knows, with their permissions; default the type's built-in ones.",
        additionalProperties: object('A resource type.', { permissions: array('Its permissions.', string('A permission.', { minLength: 1 }), 1) }, ['permissions']),
      },
      resources: array('Declared resources (postgresql and mysql integrations also discover theirs, and command with connection.listResources: true); a declared resource wins over a discovered one of the same type and path.', ref('resource')),
      tagRules: array('Tags for discovered resources, by path pattern or parent; a resource\'s own comment (a lapse: line) wins over them.', ref('tagRule')),
    },
    ['id', 'type'],
  ),
  ...connectionDefinitions(),
  bundle: object(
    'A named set of targets, requested, approved and revoked as one.',
    { id: ref('id'), name: string('Display name; default the id.', { minLength: 1 }), targets: array('Target selectors.', ref('targetSelector'), 1) },
    ['id', 'targets'],
  ),
  stepUp: object('A step-up at the identity provider.', {
    maxAge: ref('duration', 'The person must have authenticated at the provider at most this long ago (max_age, checked through auth_time); 1m to 1d.'),
    acrValues: array('Authentication context classes asked for (acr_values); the ID token\'s acr must be one of them; default any.', { type: 'string' }),
    amr: array('Authentication methods, one of which the ID token\'s amr must list (e.g. mfa, otp, hwk); default any.', { type: 'string' }),
  }),
  timeWindow: object(
    'When the flow can be used: these days, between these local times.',
    {
      days: array('Weekdays.', { enum: [...WEEKDAYS] }, 1),
      from: ref('timeOfDay', 'Start, local time "HH:MM".'),
      to: ref('timeOfDay', 'End, local time "HH:MM"; at or before from, the window ends the next day.'),
      timezone: ref('timeZone'),
    },
    ['days', 'from', 'to', 'timezone'],
  ),
  flowSettings: object('Flow settings.', {
    requireJustification: boolean('The requester must say why.', false),
    requireApproverReason: boolean('Approvers must give a reason (at most 124 characters).', false),
    requesterCannotApproveOwn: boolean('The requester never counts, and is never notified, as an approver of their own request.', true),
    requireMfa: boolean('The requester must prove a second factor: with single sign-on a recent authentication at the provider (a step-up), else a TOTP code.', false),
    stepUp: ref('stepUp', 'With single sign-on and requireMfa: this flow\'s step-up, over settings.oidc.stepUp.'),
    pendingTimeout: { description: 'This flow\'s pending timeout, over settings.pendingTimeout, or "off".', anyOf: [ref('duration'), { const: 'off' }] },
    labels: array('Free labels, e.g. prod.', string('A label.', { minLength: 1 })),
    maxExtensions: { type: 'integer', minimum: 0, default: 2, description: 'How many times one request may be extended.' },
    breakGlass: boolean('Self-approval with a mandatory reason, for emergencies; every approver is notified.', false),
  }),
  flow: object(
    'An access flow: who may request what, when, for how long, approved how.',
    {
      id: ref('id'),
      name: string('Display name; default the id.', { minLength: 1 }),
      description: string('Shown to requesters; default "".'),
      kind: {
        description: 'self-serve: granted on request. automatic: held while the requester conditions hold (no approval, no duration).',
        enum: ['self-serve', 'automatic'],
        default: 'self-serve',
      },
      requesters: ref('conditionGroup', 'Who may request (self-serve) or who holds the access (automatic); default everyone.'),
      when: ref('timeWindow', 'When the flow applies; default always.'),
      targets: array('What is granted.', ref('flowTarget'), 1),
      grantFor: ref('durationOrIndefinite', 'Default duration of a grant; default 1h. Omit (or indefinite) for automatic flows.'),
      maxDuration: ref('durationOrIndefinite', 'Longest duration a requester may ask for; default grantFor.'),
      approval: ref('approval', 'Required for self-serve flows.'),
      settings: ref('flowSettings'),
    },
    ['id', 'targets'],
  ),
};

// Each type's connection keys, on top of the secret checks every connection gets.
definitions.integration = {
  ...definitions.integration,
  allOf: INTEGRATION_TYPES.map((t) => ({
    if: { properties: { type: { const: t } }, required: ['type'] },
    then: { properties: { connection: ref(`connection_${t}`) } },
  })),
};

export const configJsonSchema: Schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Lapse configuration',
  ...object('Identities, integrations, bundles and access flows of a Lapse installation.', {
    settings: object('Server settings.', {
      admins: array('User ids with the admin role.', ref('id')),
      expiryWarnings: array('How long before expiry the requester is warned; default [10m, 1m].', ref('duration')),
      reconcileEvery: {
        description: 'How often Lapse removes what it created on the targets that no request covers (at least 10s), or "off"; default 5m.',
        anyOf: [ref('duration'), { const: 'off' }],
      },
      healthCheckEvery: ref('duration', "How often every integration's health is checked (at least 10s); default 1m."),
      discoverEvery: ref('duration', "How often each integration's resources are discovered (at least 10s); default 5m."),
      eventRetention: ref('duration', 'How long the events stream keeps what happened, for a client that reconnects to be sent what it missed (1m to 30d); default 24h.'),
      trustProxy: {
        description: 'Proxies whose X-Forwarded-For is believed for the client address: false (default), true, a number of hops (1-16), or IP addresses and CIDR ranges. Read at start.',
        anyOf: [{ type: 'boolean' }, { type: 'integer', minimum: 1, maximum: 16 }, { type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
      },
      pendingTimeout: { description: 'A request (or an extension) nobody decides times out after this (1m to 366d), or "off"; default 24h.', anyOf: [ref('duration'), { const: 'off' }] },
      remindApproversEvery: { description: 'Approvers are reminded of a request that waits this often (1m to 366d), or "off"; default 4h.', anyOf: [ref('duration'), { const: 'off' }] },
      offboarding: { enum: ['revoke', 'suspend'], description: 'A person removed from the configuration (or no longer let in by the provider): revoke their tokens, sessions and access and cancel their pending requests (revoke, the default), or only lock them out (suspend).' },
      publicUrl: { type: 'string', description: 'The address people use to reach Lapse (https; plain http only on 127.0.0.1 or localhost); single sign-on redirects to <publicUrl>/auth/callback.' },
      oidc: {
        ...object('Single sign-on through an OpenID Provider (needs publicUrl). Read at start.', {
          issuer: { type: 'string', description: "The provider's issuer URL (its discovery document is at <issuer>/.well-known/openid-configuration)." },
          clientId: { type: 'string', description: "Lapse's client id at the provider." },
          clientSecretEnv: { type: 'string', description: 'The environment variable holding the client secret (never inline).' },
          clientSecretFile: { type: 'string', description: 'The file holding the client secret (never inline).' },
          scopes: array('Scopes to ask for; must include openid; default [openid, email, profile].', { type: 'string' }),
          claims: object('Which ID token claims hold what Lapse needs; defaults email, name, groups, manager.', {
            email: { type: 'string' }, name: { type: 'string' }, groups: { type: 'string' }, manager: { type: 'string' },
            attributes: { type: 'object', description: 'User attributes (usable in conditions) by the claim holding each.', additionalProperties: { type: 'string' } },
          }),
          allowedEmailDomains: array('Only people whose email is in these domains may sign in; default any.', { type: 'string' }),
          allowedGroups: array('Only people in one of these groups (at the provider) may sign in; default any.', { type: 'string' }),
          provisionUsers: { type: 'boolean', description: 'Create people who sign in and are not in the configuration, from their claims; default false.' },
          sessionIdle: ref('duration', 'A session ends this long after its last use; default 12h.'),
          sessionMaxAge: ref('duration', 'A session ends this long after sign-in, however active; default 7d.'),
          renewEvery: ref('duration', 'How often each person is renewed at the provider with the refresh token it gave at sign-in (groups follow it; a person it refuses is locked out); at least 1m; default 15m.'),
          authorizationParams: { type: 'object', description: 'Extra parameters of the authorization request, e.g. { access_type: offline } for Google; Lapse\'s own (redirect_uri, scope, state, nonce, max_age, acr_values, …) cannot be set.', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] } },
          stepUp: ref('stepUp', 'What a flow that requires MFA asks of the provider; default { maxAge: 10m }.'),
        }, ['issuer', 'clientId']),
      },
      tokens: object('API tokens\' lifetimes.', {
        defaultLifetime: ref('duration', 'How long a token lives when its maker gives no expiry (at least 1h); default 90d.'),
        maxLifetime: ref('duration', 'The longest expiry a token may be given (at least 1h, at most 1830d); default 366d.'),
      }),
    }),
    identities: object('Users, groups and on-call shifts.', {
      users: array('Users.', ref('user')),
      groups: array('Declared groups (every group a user lists exists without this).', ref('group')),
      shifts: array('On-call rotations.', ref('shift')),
    }),
    integrations: array('Connections to target systems.', ref('integration')),
    bundles: array('Named sets of targets.', ref('bundle')),
    flows: array('Access flows.', ref('flow')),
    auditStream: auditStreamSchema(),
    notifications: object('How people and systems are told of what concerns them: email, direct messages in Slack, Slack and Teams channels, signed lifecycle webhooks (delivered from an outbox, retried).', {
      email: object('Email over SMTP, to each person at the address of their identity.', {
        host: string('The SMTP server.', { minLength: 1 }),
        port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Default 465 with secure, else 587.' },
        secure: boolean('TLS from the first byte (usually port 465); else STARTTLS where offered.', false),
        requireTls: boolean('Refuse to send without TLS.', false),
        user: string('The SMTP user, if the server wants one.', { minLength: 1 }),
        passwordEnv: string('The environment variable holding the SMTP password (never inline).', { minLength: 1 }),
        passwordFile: string('The file holding the SMTP password (never inline).', { minLength: 1 }),
        from: string('The From address, e.g. "Lapse <lapse@example.com>".', { minLength: 3 }),
        optOut: boolean('People may turn email off in their Account view (never for the admins\' notices).', true),
      }, ['host', 'from']),
      directMessages: object('Direct messages to each person in Slack: a Slack app\'s bot finds them by the email of their identity.', {
        type: { enum: ['slack'] },
        tokenEnv: string('The environment variable holding the bot token (scopes chat:write, users:read.email, im:write and im:history; never inline).', { minLength: 1 }),
        tokenFile: string('The file holding the bot token.', { minLength: 1 }),
        apiUrl: string('Slack\'s Web API; default https://slack.com/api.', { minLength: 1 }),
        optOut: boolean('People may turn direct messages off in their Account view (never for the admins\' notices).', true),
      }, ['type']),
      chat: array('Slack and Microsoft Teams incoming webhooks.', object('A chat channel: approvers\' concerns (new requests, reminders, break-glass) and their outcomes.', {
        id: ref('id'),
        type: { enum: ['slack', 'teams'] },
        urlEnv: string('The environment variable holding the incoming webhook\'s URL (it holds its token; never inline).', { minLength: 1 }),
        urlFile: string('The file holding the incoming webhook\'s URL.', { minLength: 1 }),
        flows: array('Only requests of these flows; default all.', ref('id')),
        labels: array('Only requests with one of these labels; default all.', string('A label.', { minLength: 1 })),
      }, ['id', 'type'])),
      webhooks: array('Subscribers to the request lifecycle: signed POSTs (HMAC-SHA256 over timestamp and body) with the event type, id and idempotency key in headers.', object('A lifecycle webhook.', {
        id: ref('id'),
        url: string('https (plain http only on 127.0.0.1 or localhost), without credentials, query or fragment.', { minLength: 1 }),
        secretEnv: string('The environment variable holding the signing key.', { minLength: 1 }),
        secretFile: string('The file holding the signing key.', { minLength: 1 }),
        events: array('Event types, or a prefix ending in * (e.g. request.*); default all.', string('An event type.', { minLength: 1 })),
      }, ['id', 'url'])),
      maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Deliveries tried before a notification is marked failed.' },
    }),
  }),
  definitions,
};
