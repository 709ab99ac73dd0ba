// nextStatus answers from a table computed once from the xstate machine; it must give exactly what
// asking the machine (xstate's pure transition) gives, for every status and every lifecycle event.
import { expect } from 'chai';
import { nextStatus, nextStatusByMachine } from '../../../engine/domain/reservation.js';
import { reservationStatuses } from '../../../engine/types.js';

const events = ['PAYMENT_PENDING', 'EXTEND', 'CONFIRM', 'CANCEL', 'EXPIRE', 'AT_RISK', 'RESOURCED'] as const;

describe('reservation lifecycle: the precomputed transition table', () => {
  for (const status of reservationStatuses) {
    it(`agrees with the statechart from ${status}`, () => {
      for (const event of events) {
        expect(nextStatus(status, event), `${status} on ${event}`).to.equal(
          nextStatusByMachine(status, event),
        );
      }
    });
  }
});
