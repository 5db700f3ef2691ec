// The MFA enrolment API suite again, on the PostgreSQL store (the enrolments, the count of
// wrong codes and the used steps shared through it, the secret sealed in its rows).
process.env.LAPSE_TEST_STORE = 'postgres';
await import('./api-mfa.test.ts');
