// jsdom ships no types and @types/jsdom pulls a second @types/node into the workspace; the dashboard test only builds a
// window for Mermaid's parser, so this is all it needs.
declare module 'jsdom' {
  export class JSDOM {
    constructor(html: string);
    readonly window: Window & typeof globalThis;
  }
}
