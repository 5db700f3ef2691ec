// The admin views' API suite again, on the PostgreSQL store (each server in a fresh schema of this
// file's own database).
process.env.LAPSE_TEST_STORE = 'postgres';
await import('./api-admin-views.test.ts');
