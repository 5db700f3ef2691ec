// The engine suite again, with the SQLite store's writes in a worker thread (as the server
// runs it) on a file of its own.
process.env.LAPSE_TEST_SQLITE_WRITER = 'thread';
await import('./engine.test.ts');
