import { useState } from 'react';
import type { BackendDescriptor, TestConnectionRequest } from '../../../types/api';
import { useTestConnection } from '../api/llmBackend';
import { addressOf, type BackendDraft, connectionOf, draftConfig } from '../lib/backendDrafts';

/** The values a connection test ran with, to tell whether its result still belongs to the form. */
interface TestedValues {
  backendType: string;
  connection: string;
  address: string;
  generate: boolean;
}

/**
 * The connection test of the values in the form. Its result belongs to the exact values it was
 * for: editing them takes it off the screen (`stale`), and its model list is only offered while
 * the form points at the server that gave it.
 */
export function useConnectionTest(descriptor: BackendDescriptor, draft: BackendDraft) {
  const test = useTestConnection();
  const [tested, setTested] = useState<TestedValues | null>(null);
  const backendType = descriptor.type;
  const ofThisBackend = tested?.backendType === backendType;
  const belongs = ofThisBackend && tested.connection === connectionOf(descriptor, draft);
  const testing = test.isPending && ofThisBackend;

  /** Tests `values` of `target`; with `generate`, the one-token generation runs with its default model. */
  const run = (target: BackendDescriptor, values: BackendDraft, { generate = false } = {}) => {
    const body: TestConnectionRequest = { backend_type: target.type, config: draftConfig(target, values) };
    if (generate) {
      body.generate = true;
      if (values.defaultModel) body.model = values.defaultModel;
    }
    setTested({ backendType: target.type, connection: connectionOf(target, values), address: addressOf(target, values), generate });
    test.mutate(body);
  };

  return {
    /** The result of a finished test of exactly the values in the form. */
    result: belongs && !test.isPending ? test.data : undefined,
    /** A test that could not run (the request failed, not the connection). */
    error: belongs && !test.isPending ? test.error : null,
    /** The models the test found, while the form points at the server it tested. */
    models: test.data?.status === 'connected' && ofThisBackend && tested.address === addressOf(descriptor, draft) ? test.data.models : null,
    testing,
    /** This backend was tested, but with other values than the form holds now. */
    stale: !testing && !belongs && ofThisBackend,
    generateRequested: tested?.generate ?? false,
    run,
    /** Forgets the last test, e.g. once a refreshed model list replaces the one it found. */
    forget: () => setTested(null),
  };
}
