// The reconciliation suite again, on the PostgreSQL store (each harness in a fresh schema of
// this file's own database).
process.env.LAPSE_TEST_STORE = 'postgres';
await import('./reconcile.test.ts');
