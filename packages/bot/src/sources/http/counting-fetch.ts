/**
 * Counts requests where they leave the process: a wrapper around the `fetch` a client is given. Every call is one
 * HTTP request (the first, challenged try, each retry and each redirect hop included), so the figures match what a
 * logging proxy in front of the server sees, which counting at call sites did not (issue 12: 72 counted, 76 seen).
 */
export interface CountedRequest {
  url: URL;
  method: string;
  /** `redirect` mode of the request; the registry client asks token services with `error`, everything else `manual`. */
  redirect: RequestInit['redirect'];
}

export interface CountingHooks {
  /** Called before the request is sent (so a request that then fails on the network is counted too). */
  request(request: CountedRequest): void;
  /** Called with the status once a response arrives. */
  response?(request: CountedRequest, status: number): void;
}

export function countingFetch(inner: typeof fetch, hooks: CountingHooks): typeof fetch {
  const wrapped = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const request: CountedRequest = { url, method, redirect: init?.redirect ?? (input instanceof Request ? input.redirect : undefined) };
    hooks.request(request);
    const response = await inner(input, init);
    hooks.response?.(request, response.status);
    return response;
  };
  return wrapped as typeof fetch;
}
