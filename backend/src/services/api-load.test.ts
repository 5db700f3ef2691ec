// The API's load as the delivery thread reads it, on an injected clock: busy above half the
// interval, or when the measurement is stale (the API's thread could not run its timer); not
// busy before measuring starts or after it stops. A delivery gives way while busy, at most
// until its notification is five seconds old.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiLoadGauge, GiveWay, apiLoadReader } from './api-load.ts';

test('busy above half, or when the API\'s thread has not measured for a while; never before the start or after the stop', () => {
  let now = 1_000_000;
  const gauge = new ApiLoadGauge(undefined, () => now);
  const reader = apiLoadReader(gauge.memory, () => now);
  assert.equal(reader.busy(), false, 'not measuring yet: nothing is held back');
  gauge.write(0.3);
  assert.equal(reader.busy(), false);
  gauge.write(0.8);
  assert.equal(reader.busy(), true);
  gauge.write(0.5);
  assert.equal(reader.busy(), false, 'half is not above half');
  now += 150;
  assert.equal(reader.busy(), false, 'a measurement 150 ms old still counts');
  now += 100;
  assert.equal(reader.busy(), true, 'none for 250 ms: the API\'s thread is held');
  gauge.write(7);
  assert.equal(reader.busy(), true, 'clamped to 1');
  gauge.stop();
  now += 60_000;
  assert.equal(reader.busy(), false, 'stopped: the last deliveries are not held back');
});

test('the clock\'s low bits wrap around without a false alarm', () => {
  let now = 0x7fffffff - 5;
  const gauge = new ApiLoadGauge(undefined, () => now);
  const reader = apiLoadReader(gauge.memory, () => now);
  gauge.write(0.1);
  now += 20;
  assert.equal(reader.busy(), false);
});

test('the running gauge measures this event loop: a loop held for most of an interval is busy, an idle one is not', async () => {
  const gauge = new ApiLoadGauge();
  const reader = apiLoadReader(gauge.memory);
  gauge.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(reader.busy(), false, 'idle');
    // Held 90 ms of every 100 for a few intervals.
    const end = Date.now() + 300;
    while (Date.now() < end) {
      const until = Date.now() + 90;
      while (Date.now() < until) { /* busy */ }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(reader.busy(), true, 'busy');
  } finally {
    gauge.stop();
  }
});

test('deliveries wait while the API is busy, all let go once it is quiet, each at most until its notification is five seconds old', async () => {
  let now = 10_000;
  let busy = false;
  const gate = new GiveWay({ busy: () => busy, now: () => now });
  let released = 0;
  const track = (p: Promise<void>) => void p.then(() => { released++; });
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  await gate.wait(now);
  assert.equal(gate.waiting, 0, 'a quiet API: no wait');
  busy = true;
  await gate.wait(now - 60_000);
  assert.equal(gate.waiting, 0, 'an old notification does not wait');

  track(gate.wait(now));
  track(gate.wait(now - 4_000));
  track(gate.wait(now - 1_000));
  assert.equal(gate.waiting, 3);
  now += 500;
  gate.look();
  await settle();
  assert.equal(released, 0, 'still busy, none old enough');
  now += 500;
  gate.look();
  await settle();
  assert.deepEqual([released, gate.waiting], [1, 2], 'the one written 5 s ago goes');
  busy = false;
  gate.look();
  await settle();
  assert.deepEqual([released, gate.waiting], [3, 0], 'quiet: all go');

  // The timer looks by itself while any waits (and stops when none does).
  busy = true;
  const waited = gate.wait(now);
  busy = false;
  await waited;
  assert.equal(gate.waiting, 0);
});
