import { EventEmitter } from 'node:events';
import { describe, expect, test } from 'vitest';
import { ConnectionTracker, type TrackedSocket } from './connections.ts';

/** Just what the tracker uses of a socket: bytes read, destroy, a close event. */
class FakeSocket extends EventEmitter {
  bytesRead = 0;
  destroyed = false;
  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
}

function setup() {
  let now = 0;
  const tracker = new ConnectionTracker(() => now);
  const socket = new FakeSocket();
  tracker.connected(socket as unknown as TrackedSocket);
  const s = socket as unknown as TrackedSocket;
  return { tracker, socket, s, advance: (ms: number) => (now += ms) };
}

describe('ConnectionTracker.closeIdle', () => {
  test('closes a connection only once it has been idle for the given time', () => {
    const { tracker, socket, advance } = setup();
    advance(999);
    expect(tracker.closeIdle(1000)).toBe(0);
    expect(socket.destroyed).toBe(false);
    advance(1);
    expect(tracker.closeIdle(1000)).toBe(1);
    expect(socket.destroyed).toBe(true);
    expect(tracker.size).toBe(0);
  });

  test('never closes a connection with a request in flight, and counts idle time from its response', () => {
    const { tracker, socket, s, advance } = setup();
    socket.bytesRead = 100;
    tracker.requestStarted(s);
    advance(5000);
    expect(tracker.closeIdle(1000)).toBe(0);
    tracker.requestEnded(s);
    advance(999);
    expect(tracker.closeIdle(1000)).toBe(0);
    advance(1);
    expect(tracker.closeIdle(1000)).toBe(1);
  });

  test('pipelined requests: busy until the last response has ended', () => {
    const { tracker, socket, s, advance } = setup();
    tracker.requestStarted(s);
    tracker.requestStarted(s);
    tracker.requestEnded(s);
    advance(2000);
    expect(tracker.closeIdle(1000)).toBe(0);
    tracker.requestEnded(s);
    advance(1000);
    expect(tracker.closeIdle(1000)).toBe(1);
    expect(socket.destroyed).toBe(true);
  });

  test('bytes of a request still arriving (headers not complete) count as use', () => {
    const { tracker, socket, advance } = setup();
    advance(900);
    socket.bytesRead = 20; // a slow client's first header line
    expect(tracker.closeIdle(1000)).toBe(0);
    advance(999);
    expect(tracker.closeIdle(1000)).toBe(0);
    socket.bytesRead = 40;
    advance(999);
    expect(tracker.closeIdle(1000)).toBe(0);
    advance(1000);
    expect(tracker.closeIdle(1000)).toBe(1);
  });

  test('a socket the peer closed is forgotten', () => {
    const { tracker, socket } = setup();
    socket.emit('close');
    expect(tracker.size).toBe(0);
  });
});
