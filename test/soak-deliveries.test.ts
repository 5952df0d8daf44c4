/** The soak's verdict (lab/soak/soak-deliveries.ts) on deliveries made up for the purpose: it must fail when it should. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryLedger, soakPassed, soakText } from '../lab/soak/soak-deliveries.js';

/** Two clients that have joined, and one acknowledged message from client 0. */
function ledgerWithOneMessage(): { ledger: DeliveryLedger; message: { id: string; text: string } } {
  const ledger = new DeliveryLedger(2, 10);
  ledger.joined(0);
  ledger.joined(1);
  const seq = ledger.nextMessage();
  const message = { id: '1000-0', text: soakText(seq, 0) };
  ledger.acknowledged(seq, message.id);
  return { ledger, message };
}

test('every client received the message once, live or caught up: passes', () => {
  const { ledger, message } = ledgerWithOneMessage();
  ledger.delivered(0, message, 'live');
  ledger.delivered(1, message, 'caught up');
  ledger.delivered(0, message, 'caught up'); // merged by id: no duplicate
  const verdict = ledger.verdict();
  assert.deepEqual([verdict.deliveriesExpected, verdict.deliveriesReceived, verdict.lost, verdict.duplicated], [2, 2, 0, 0]);
  assert.equal(soakPassed(verdict), true);
});

test('a dropped delivery is lost: fails', () => {
  const { ledger, message } = ledgerWithOneMessage();
  ledger.delivered(0, message, 'live');
  assert.equal(ledger.verdict().lost, 1);
  assert.equal(soakPassed(ledger.verdict()), false);
});

test('the same message live twice is a duplicate, unless the client reconnected in between', () => {
  const { ledger, message } = ledgerWithOneMessage();
  for (const client of [0, 0, 1, 1]) ledger.delivered(client, message, 'live');
  assert.equal(ledger.verdict().duplicated, 2);
  ledger.reconnected(1);
  assert.deepEqual([ledger.verdict().duplicated, ledger.verdict().repeatedAcrossReconnects], [1, 1]);
  assert.equal(soakPassed(ledger.verdict()), false);
});

test('one message under two log ids was logged twice: fails', () => {
  const { ledger, message } = ledgerWithOneMessage();
  ledger.delivered(0, message, 'live');
  ledger.delivered(1, { ...message, id: '1000-1' }, 'live');
  assert.equal(ledger.verdict().loggedTwice, 1);
  assert.equal(soakPassed(ledger.verdict()), false);
});

test('a client that joined after a message was sent is not expected to receive it', () => {
  const ledger = new DeliveryLedger(2, 10);
  ledger.joined(0);
  const seq = ledger.nextMessage();
  ledger.acknowledged(seq, '1000-0');
  ledger.joined(1);
  ledger.delivered(0, { id: '1000-0', text: soakText(seq, 0) }, 'live');
  assert.deepEqual([ledger.verdict().deliveriesExpected, ledger.verdict().lost], [1, 0]);
});
