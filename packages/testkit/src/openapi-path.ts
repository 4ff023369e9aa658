/** An OpenAPI path template (`/repos/{owner}/{repo}/pulls`) as a regex over request paths, with its parameter names in order. */
export function pathTemplateRegex(template: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const pattern = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { regex: new RegExp(`^${pattern}$`), names };
}
