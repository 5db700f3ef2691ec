// The overlap suite again, on the PostgreSQL store: two engines on one database, as two
// replicas are.
process.env.LAPSE_TEST_STORE = 'postgres';
const { overlapSuite } = await import('./overlap.test.ts');
overlapSuite('postgres');
