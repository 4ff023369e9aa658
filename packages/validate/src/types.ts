/** A Kubernetes object as kustomize prints it; only the fields the policies read are typed. */
export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface RenderedObject {
  object: K8sObject;
  /** Repo-relative source file (from kustomize's origin annotation), or the entry point's kustomization.yaml. */
  file: string;
}

/** Where a render comes from decides which policies apply to it (overlay-only rules need a whole environment). */
export type RenderKind = 'overlay' | 'argocd' | 'flux' | 'flux-stage';

export interface Render {
  /** Repo-relative directory, e.g. `overlays/dev`. */
  id: string;
  kind: RenderKind;
  env: string;
  objects: RenderedObject[];
  /** Kustomize's message when the render failed; objects is then empty. */
  error?: string;
  /** False when the origin-annotation wrapper could not be used and files fall back to the entry point. */
  originAnnotations: boolean;
  wallMs: number;
}

export interface Violation {
  rule: string;
  /** Repo-relative file the fix belongs in. */
  file: string;
  /** `Kind/namespace/name` (or `Kind/name` for cluster-scoped objects, `line N` for the secret scan). */
  object: string;
  message: string;
  fix: string;
}

export interface PolicyContext {
  root: string;
  /** Renders that succeeded; failed ones are already reported as `render` violations. */
  renders: Render[];
}

export interface Policy {
  id: string;
  title: string;
  check(ctx: PolicyContext): Violation[] | Promise<Violation[]>;
}
