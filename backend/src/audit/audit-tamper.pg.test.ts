// The audit tampering suite again, on the PostgreSQL store.
process.env.LAPSE_TEST_STORE = 'postgres';
const { tamperSuite } = await import('./audit-tamper.test.ts');
tamperSuite();
