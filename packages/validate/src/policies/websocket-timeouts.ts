import { asArray, asRecord, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

const MIN_SECONDS = 3600;
const CONDUCTOR = 'conductor';
const NGINX_TIMEOUTS = ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout'];

/** Gateway API Duration (GEP-2257): 1-4 `<number><h|m|s|ms>` parts. Returns seconds, or undefined when malformed. */
export function parseGatewayDuration(value: string): number | undefined {
  if (!/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(value)) return undefined;
  let seconds = 0;
  for (const match of value.matchAll(/([0-9]{1,5})(h|ms|m|s)/g)) {
    const amount = Number(match[1]);
    const unit = match[2];
    seconds += unit === 'h' ? amount * 3600 : unit === 'm' ? amount * 60 : unit === 's' ? amount : amount / 1000;
  }
  return seconds;
}

/** An app's WebSocket to Conductor lives for hours; a proxy's default 60 s idle timeout cuts it and drops the executor. */
export const websocketTimeouts: Policy = {
  id: 'websocket-timeouts',
  title: 'Routes to Conductor keep WebSockets open for at least an hour',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      let routesToConductor = 0;
      for (const rendered of render.objects) {
        const { object } = rendered;
        if (object.kind === 'Ingress') {
          const paths = asArray(asRecord(object.spec).rules).flatMap((rule) => asArray(asRecord(asRecord(rule).http).paths));
          const conductorPaths = paths.filter((p) => asRecord(asRecord(asRecord(p).backend).service).name === CONDUCTOR);
          if (conductorPaths.length === 0) continue;
          routesToConductor += conductorPaths.length;
          const annotations = object.metadata?.annotations ?? {};
          for (const key of NGINX_TIMEOUTS) {
            const raw = annotations[key];
            const seconds = raw === undefined ? undefined : Number(raw);
            if (seconds !== undefined && Number.isInteger(seconds) && seconds >= MIN_SECONDS) continue;
            violations.push(
              violationFor(
                rendered,
                'websocket-timeouts',
                raw === undefined
                  ? `routes to the conductor service without ${key}, so nginx closes WebSockets after 60 s`
                  : `routes to the conductor service with ${key}: "${raw}", below ${MIN_SECONDS} seconds`,
                `set the annotation ${key}: "${MIN_SECONDS}" on this Ingress`,
              ),
            );
          }
        } else if (object.kind === 'HTTPRoute') {
          asArray(asRecord(object.spec).rules).forEach((rawRule, index) => {
            const rule = asRecord(rawRule);
            const toConductor = asArray(rule.backendRefs).some((ref) => {
              const r = asRecord(ref);
              return r.name === CONDUCTOR && (r.kind === undefined || r.kind === 'Service');
            });
            if (!toConductor) return;
            routesToConductor++;
            const timeouts = asRecord(rule.timeouts);
            const fields: Array<[string, unknown]> = [['request', timeouts.request]];
            if (timeouts.backendRequest !== undefined) fields.push(['backendRequest', timeouts.backendRequest]);
            for (const [field, raw] of fields) {
              const seconds = typeof raw === 'string' ? parseGatewayDuration(raw) : undefined;
              // 0s disables the timeout, which is what a WebSocket needs.
              if (seconds !== undefined && (seconds === 0 || seconds >= MIN_SECONDS)) continue;
              violations.push(
                violationFor(
                  rendered,
                  'websocket-timeouts',
                  raw === undefined
                    ? `rule ${index} routes to the conductor service without timeouts.${field}, so the gateway's default may cut WebSockets`
                    : `rule ${index} routes to the conductor service with timeouts.${field}: "${String(raw)}", below ${MIN_SECONDS}s (or not a Gateway API duration)`,
                  `set spec.rules[${index}].timeouts.${field}: "${MIN_SECONDS}s" (or "0s" for no timeout)`,
                ),
              );
            }
          });
        }
      }
      if (routesToConductor === 0) {
        violations.push({
          rule: 'websocket-timeouts',
          file: `${render.id}/kustomization.yaml`,
          object: 'Ingress|HTTPRoute/*',
          message: `${render.id} has no Ingress path or HTTPRoute rule to the conductor service, so apps and the Console cannot reach Conductor`,
          fix: 'include the ingress-nginx or gateway-api component, which routes /conductor to Service conductor:8090 with hour-long timeouts',
        });
      }
    }
    return violations;
  },
};
