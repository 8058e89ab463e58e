import { useQuery } from '@tanstack/react-query';
import { admin, ApiError, unwrap } from '../../lib/api/client';

export const faultsKey = ['faults'] as const;

export function fetchFaults() {
  return unwrap(admin.GET('/v1/faults'));
}

/** The processor admin answers 403 on the fault switchboard when fault injection is off. */
export function isFaultInjectionOff(err: unknown): boolean {
  return err instanceof ApiError && err.status === 403;
}

export type FaultInjection = { state: 'on' | 'off' | 'pending' } | { state: 'error'; error: unknown };

/** Whether the processor runs with fault injection (the developer tools need it). */
export function useFaultInjection(): FaultInjection {
  const q = useQuery({
    queryKey: faultsKey,
    queryFn: fetchFaults,
    staleTime: 60_000,
    retry: (count, err) => !isFaultInjectionOff(err) && count < 1,
  });
  if (q.isSuccess) return { state: 'on' };
  if (q.isPending && !q.isError) return { state: 'pending' };
  return isFaultInjectionOff(q.error) ? { state: 'off' } : { state: 'error', error: q.error };
}
