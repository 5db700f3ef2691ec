// The MFA suite again, on the PostgreSQL store (replicas share the used codes and the count
// of failures through it).
process.env.LAPSE_TEST_STORE = 'postgres';
await import('./mfa.test.ts');
