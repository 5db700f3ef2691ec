// State-changing calls taking turns (write-admission.ts), on manual timers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, ManualTimers } from '../../../common/clock.ts';
import { WriteAdmission, WriteAdmissionFull, type Release } from './write-admission.ts';

function setup(concurrency: number, maxWaiting = 100) {
  const timers = new ManualTimers(new ManualClock(0));
  const admission = new WriteAdmission({ concurrency, holdMs: 100, maxWaiting, timers });
  const order: string[] = [];
  const releases = new Map<string, Release>();
  const admit = (caller: string, label: string) => admission.admit(caller).then((release) => {
    order.push(label);
    releases.set(label, release);
  });
  return { timers, admission, order, releases, admit };
}

const settle = () => new Promise((r) => setImmediate(r));

test('up to the concurrency goes in at once; the next waits for a turn to end', async () => {
  const { admission, order, releases, admit } = setup(2);
  void admit('alice', 'a1');
  void admit('alice', 'a2');
  void admit('alice', 'a3');
  await settle();
  assert.deepEqual(order, ['a1', 'a2']);
  assert.equal(admission.running, 2);
  assert.equal(admission.queued, 1);
  releases.get('a1')!();
  await settle();
  assert.deepEqual(order, ['a1', 'a2', 'a3']);
  assert.equal(admission.queued, 0);
});

test('callers take turns: one who filed many waits behind each other caller\'s next call', async () => {
  const { order, releases, admit } = setup(1);
  void admit('script', 's1');
  await settle();
  for (let i = 2; i <= 5; i++) void admit('script', `s${i}`);
  void admit('bob', 'b1');
  void admit('carol', 'c1');
  void admit('bob', 'b2');
  await settle();
  assert.deepEqual(order, ['s1']);
  // Each turn that ends lets the next caller in the rotation go.
  for (let i = 0; i < 7; i++) {
    releases.get(order.at(-1)!)!();
    await settle();
  }
  assert.deepEqual(order, ['s1', 's2', 'b1', 'c1', 's3', 'b2', 's4', 's5']);
});

test('a call that keeps its turn longer than holdMs gives it up (a slow target holds no one up); releasing it later changes nothing', async () => {
  const { timers, admission, order, releases, admit } = setup(1);
  void admit('alice', 'slow');
  void admit('bob', 'next');
  await settle();
  assert.deepEqual(order, ['slow']);
  timers.advance(99);
  await settle();
  assert.deepEqual(order, ['slow']);
  timers.advance(1);
  await settle();
  assert.deepEqual(order, ['slow', 'next']);
  releases.get('slow')!();
  releases.get('slow')!();
  assert.equal(admission.running, 1, 'the late and the repeated release do not end another call\'s turn');
  releases.get('next')!();
  assert.equal(admission.running, 0);
  assert.equal(timers.size, 0, 'no timer is left behind');
});

test('beyond maxWaiting a call is refused with how many wait; the others still get their turn', async () => {
  const { order, releases, admit } = setup(1, 2);
  void admit('alice', 'a1');
  void admit('alice', 'a2');
  void admit('bob', 'b1');
  await settle();
  await assert.rejects(admit('carol', 'c1'), (err: unknown) => err instanceof WriteAdmissionFull && err.waiting === 2 && /2 state-changing calls are waiting/.test(err.message));
  releases.get('a1')!();
  await settle();
  releases.get(order.at(-1)!)!();
  await settle();
  assert.deepEqual(order, ['a1', 'a2', 'b1']);
});
