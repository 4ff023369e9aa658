import { labelsOf, objectRef } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';
import { applications, argoSourcePath } from './sync-engines.ts';
import { BOOTSTRAP_LABEL } from '@dbos-gitops/sealing/names';

export { BOOTSTRAP_LABEL };

/**
 * Sync waves order what one Application's sync applies; whatever `kubectl apply` creates by hand is not
 * ordered at all. So the hand-applied bootstrap (`kubectl apply -k clusters/<env>/argocd -l
 * dbos.dev/bootstrap=true`) must be exactly the root app-of-apps, what it needs to exist (its AppProjects) and
 * the health check its waves rely on; an add-on or the dbos Application applied by hand would start syncing
 * before the add-ons it depends on exist.
 */
export const argocdBootstrap: Policy = {
  id: 'argocd-bootstrap',
  title: 'The hand-applied Argo CD bootstrap is the root Application, its AppProjects and the Application health check, nothing else',
  check(ctx) {
    const violations: Violation[] = [];
    for (const argo of ctx.renders.filter((r) => r.kind === 'argocd')) {
      const apps = applications(argo);
      const roots = apps.filter((a) => argoSourcePath(a.object) === argo.id);
      if (roots.length === 0) continue;
      const command = `kubectl apply -k ${argo.id} -l ${BOOTSTRAP_LABEL}=true`;
      const bootstrapped = (o: (typeof argo.objects)[number]) => labelsOf(o.object)[BOOTSTRAP_LABEL] === 'true';
      for (const root of roots.filter((r) => !bootstrapped(r))) {
        violations.push({
          rule: 'argocd-bootstrap',
          file: root.file,
          object: objectRef(root.object),
          message: `is the app-of-apps for ${argo.id} but is not labelled ${BOOTSTRAP_LABEL}: "true", so \`${command}\` does not create it and nothing syncs`,
          fix: `add the label ${BOOTSTRAP_LABEL}: "true" to it`,
        });
      }
      for (const app of apps.filter((a) => bootstrapped(a) && !roots.includes(a))) {
        violations.push({
          rule: 'argocd-bootstrap',
          file: app.file,
          object: objectRef(app.object),
          message:
            `is labelled ${BOOTSTRAP_LABEL}: "true", so \`${command}\` creates it directly and it starts syncing at once, outside the root Application's sync waves ` +
            '(argo-cd docs, user-guide/sync-waves.md: waves order the resources of one sync operation)',
          fix: `remove the label; the root Application creates it in its wave`,
        });
      }
      for (const rendered of argo.objects) {
        const { object } = rendered;
        const needed = object.kind === 'AppProject' || (object.kind === 'ConfigMap' && object.metadata?.name === 'argocd-cm');
        if (!needed || bootstrapped(rendered)) continue;
        violations.push({
          rule: 'argocd-bootstrap',
          file: rendered.file,
          object: objectRef(object),
          message: `is needed before the root Application's first sync (${object.kind === 'AppProject' ? 'the root and its children name this project' : 'its waves wait on the Application health check'}) but is not labelled ${BOOTSTRAP_LABEL}: "true", so \`${command}\` leaves it out`,
          fix: `add the label ${BOOTSTRAP_LABEL}: "true" to it`,
        });
      }
    }
    return violations;
  },
};
