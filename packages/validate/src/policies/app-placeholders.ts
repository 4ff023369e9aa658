import { asArray, asRecord, containersOf, labelsOf, podSpecOf, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';
import { podTemplateLabels } from './applications.ts';

const RULE = 'app-placeholders';

/** The names base/app and base/app-version carry until components/app-identity fills them (README, "Applications"). */
export const PLACEHOLDERS = ['APP', 'MIGRATE', 'MIGRATE-IMAGE', 'APP_ROLE', 'APP-DATABASE', 'APP-CONDUCTOR-API-KEY'] as const;

// A whole token: not part of a longer name (DBOS__APPVERSION, APPLICATION, app-migrate are not placeholders).
const TOKEN = new RegExp(`(?<![A-Za-z0-9_.-])(${[...PLACEHOLDERS].sort((a, b) => b.length - a.length).join('|')})(?![A-Za-z0-9_-])`);

export function placeholderIn(value: string): string | undefined {
  return TOKEN.exec(value)?.[1];
}

/** Every string a template fills: names, label values, images, secret and service-account references, args and queries. */
function* filledFields(object: Record<string, unknown>): Generator<[string, string]> {
  const metadata = asRecord(object.metadata);
  if (typeof metadata.name === 'string') yield ['metadata.name', metadata.name];
  for (const [key, value] of Object.entries(labelsOf(object))) yield [`metadata.labels.${key}`, String(value)];
  for (const [key, value] of Object.entries(asRecord(podTemplateLabels(object)))) yield [`pod template label ${key}`, String(value)];
  const spec = asRecord(object.spec);
  for (const [key, value] of Object.entries(asRecord(asRecord(spec.selector).matchLabels ?? (object.kind === 'Service' ? spec.selector : {})))) {
    yield [`spec.selector ${key}`, String(value)];
  }
  const podSpec = podSpecOf(object);
  if (podSpec) {
    if (typeof podSpec.serviceAccountName === 'string') yield ['serviceAccountName', podSpec.serviceAccountName];
    for (const volume of asArray(podSpec.volumes).map(asRecord)) {
      const secretName = asRecord(volume.secret).secretName;
      if (typeof secretName === 'string') yield [`volume ${String(volume.name)} secretName`, secretName];
    }
    for (const ref of containersOf(podSpec, true)) {
      const where = `container ${ref.name}`;
      yield [`${where} name`, ref.name];
      if (typeof ref.container.image === 'string') yield [`${where} image`, ref.container.image];
      for (const arg of [...asArray(ref.container.args), ...asArray(ref.container.command)]) yield [`${where} args`, String(arg)];
      for (const env of asArray(ref.container.env).map(asRecord)) {
        if (typeof env.value === 'string') yield [`${where} env ${String(env.name)}`, env.value];
        const secretRef = asRecord(asRecord(env.valueFrom).secretKeyRef);
        if (typeof secretRef.name === 'string') yield [`${where} env ${String(env.name)} secretKeyRef`, secretRef.name];
      }
      for (const from of asArray(ref.container.envFrom).map(asRecord)) {
        const name = asRecord(from.secretRef).name;
        if (typeof name === 'string') yield [`${where} envFrom secretRef`, name];
      }
    }
  }
  if (object.kind === 'ScaledObject') {
    const target = asRecord(spec.scaleTargetRef).name;
    if (typeof target === 'string') yield ['spec.scaleTargetRef.name', target];
    const triggers = asArray(spec.triggers);
    for (let index = 0; index < triggers.length; index++) {
      for (const [key, value] of Object.entries(asRecord(asRecord(triggers[index]).metadata))) yield [`trigger ${index} ${key}`, String(value)];
    }
  }
  for (const rule of asArray(spec.rules).map(asRecord)) {
    for (const ref of asArray(rule.backendRefs).map(asRecord)) if (typeof ref.name === 'string') yield ['backendRef', ref.name];
    for (const p of asArray(asRecord(rule.http).paths).map(asRecord)) {
      const name = asRecord(asRecord(p.backend).service).name;
      if (typeof name === 'string') yield ['backend service', name];
    }
  }
}

/** A placeholder left in a rendered object names an object that does not exist (or, in a query, counts nothing). */
export const appPlaceholders: Policy = {
  id: RULE,
  title: `No rendered name, label, image, secret reference, argument or query still holds a template placeholder (${PLACEHOLDERS.join(', ')})`,
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay' || r.kind === 'app')) {
      for (const rendered of render.objects) {
        for (const [field, value] of filledFields(rendered.object)) {
          const token = placeholderIn(value);
          if (token === undefined) continue;
          violations.push(
            violationFor(
              rendered,
              RULE,
              `${field} still holds the template placeholder ${token} ("${value.length > 120 ? `${value.slice(0, 117)}...` : value}")`,
              'render it through base/components/app-identity (listed in the application directory, after its resources) so identity.yaml fills every placeholder',
            ),
          );
        }
      }
    }
    return violations;
  },
};
