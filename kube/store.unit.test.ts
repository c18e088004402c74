import { describe, expect, test } from 'vitest';
import { dropManagedFields, Store } from './store.ts';

const obj = (rv: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name: 'x', namespace: 'ns', resourceVersion: rv },
  ...extra,
});

describe('Store.remember', () => {
  test('writes our response through when the store still holds what the write was based on', () => {
    const store = new Store();
    store.set(obj('5'));
    expect(store.remember(obj('7'), '5')).toBe(true);
    expect(store.get('ns/x')?.metadata.resourceVersion).toBe('7');
  });

  test('a create is remembered unless the watch already delivered the object', () => {
    const empty = new Store();
    expect(empty.remember(obj('7'), undefined)).toBe(true);
    const watched = new Store();
    // The Deployment controller's status update arrived before the response to our create.
    watched.set(obj('8', { status: { observedGeneration: 1 } }));
    expect(watched.remember(obj('7'), undefined)).toBe(false);
    expect(watched.get('ns/x')?.metadata.resourceVersion).toBe('8');
  });

  test('never overwrites a version the watch delivered after the write was based', () => {
    const store = new Store();
    store.set(obj('5'));
    store.set(obj('9'));
    expect(store.remember(obj('7'), '5')).toBe(false);
    expect(store.get('ns/x')?.metadata.resourceVersion).toBe('9');
  });
});

describe('dropManagedFields', () => {
  test('drops managedFields and keeps the rest', () => {
    const store = new Store(dropManagedFields);
    store.set({
      metadata: { name: 'x', namespace: 'ns', managedFields: [{ manager: 'm' }], labels: { a: 'b' } },
    });
    expect(store.get('ns/x')?.metadata).toEqual({ name: 'x', namespace: 'ns', labels: { a: 'b' } });
  });
});
