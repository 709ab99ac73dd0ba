// The log lines of one event-loop turn leave in one write, in order, and none is lost.
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { TurnBatchedStream, createLogger } from '../../../api/logger.js';

class Capture extends Writable {
  readonly writes: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writes.push(chunk.toString('utf8'));
    callback();
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('TurnBatchedStream (the access log writer)', () => {
  it('writes the lines of one turn in one write, in order, and the next turn in another', async () => {
    const target = new Capture();
    const stream = new TurnBatchedStream(target);
    for (let i = 0; i < 100; i++) stream.write(`line ${i}\n`);
    expect(target.writes).to.have.length(0);
    await nextTurn();
    await nextTurn();
    expect(target.writes).to.have.length(1);
    expect(target.writes[0]?.split('\n').slice(0, -1)).to.deep.equal(
      Array.from({ length: 100 }, (_, i) => `line ${i}`),
    );
    stream.write('later\n');
    await nextTurn();
    await nextTurn();
    expect(target.writes).to.deep.equal([target.writes[0], 'later\n']);
  });

  it('flush() writes what is pending at once (the process exit hook)', () => {
    const target = new Capture();
    const stream = new TurnBatchedStream(target);
    stream.write('a\n');
    stream.write('b\n');
    stream.flush();
    expect(target.writes.join('')).to.equal('a\nb\n');
    stream.flush();
    expect(target.writes).to.have.length(1);
  });

  it("winston's lines are JSON, with a fallback for values the native JSON.stringify refuses", async () => {
    const target = new Capture();
    const logger = createLogger({ level: 'info', stream: target });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic['self'] = cyclic;
    logger.info('request', { requestId: 'r-1', status: 201 });
    logger.info('odd', { cyclic, big: 10n });
    await nextTurn();
    const [first, second] = target.writes.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first).to.include({ message: 'request', requestId: 'r-1', status: 201, level: 'info' });
    expect(second).to.include({ message: 'odd', big: '10' });
    expect(second?.['cyclic']).to.deep.equal({ name: 'loop', self: '[Circular]' });
  });
});
