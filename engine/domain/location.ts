// A location (store, warehouse, online fulfilment): registered once, renamed or retyped later.
import type { LocationType } from '../types.js';

export type LocationEvent =
  | {
      readonly type: 'LocationRegistered';
      readonly name: string;
      readonly locationType: LocationType;
      readonly at: string;
    }
  | {
      readonly type: 'LocationUpdated';
      readonly name: string;
      readonly locationType: LocationType;
      readonly at: string;
    };

export interface LocationState {
  readonly id: string;
  readonly name: string;
  readonly type: LocationType;
  readonly version: number;
  readonly updatedAt: string | null;
}

export function evolveLocation(
  state: LocationState | undefined,
  id: string,
  event: LocationEvent,
): LocationState {
  const version = (state?.version ?? 0) + 1;
  switch (event.type) {
    case 'LocationRegistered':
    case 'LocationUpdated':
      return { id, name: event.name, type: event.locationType, version, updatedAt: event.at };
    default: {
      const _exhaustive: never = event;
      throw new Error(`unknown event type ${(_exhaustive as { type: string }).type}`);
    }
  }
}

/** Registering an unchanged location is a no-op; a change of name or type is an update. */
export function decideLocation(
  state: LocationState | undefined,
  body: { readonly name: string; readonly type: LocationType },
  at: string,
): LocationEvent[] {
  if (!state) return [{ type: 'LocationRegistered', name: body.name, locationType: body.type, at }];
  if (state.name === body.name && state.type === body.type) return [];
  return [{ type: 'LocationUpdated', name: body.name, locationType: body.type, at }];
}
