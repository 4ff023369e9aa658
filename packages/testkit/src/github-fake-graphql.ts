/**
 * The GitHub fake's GraphQL endpoint: each query is validated against GitHub's published GraphQL schema
 * (@octokit/graphql-schema) and executed by graphql-js over the fake's state. Only what the bot reads is modelled
 * (`repository.issue` with its body edit history); any other field resolves to null, which a non-null field in the
 * schema turns into an error, as a query the fake cannot answer should.
 */
import { schema as githubSchema } from '@octokit/graphql-schema';
import { buildSchema, graphql, type GraphQLSchema } from 'graphql';
import type { FakeIssue } from './github-fake.ts';

let built: GraphQLSchema | null = null;
function schema(): GraphQLSchema {
  // Building GitHub's schema takes a moment; once per process.
  built ??= buildSchema(githubSchema.idl, { assumeValidSDL: true });
  return built;
}

const actor = (login: string) => ({ __typename: login.endsWith('[bot]') ? 'Bot' : 'User', login });

interface Connection<T> {
  first?: number;
  last?: number;
  nodes: T[];
}
function page<T>(items: T[], args: { first?: number; last?: number }): { nodes: T[]; totalCount: number; pageInfo: object } {
  const nodes = args.last !== undefined ? items.slice(Math.max(0, items.length - args.last)) : items.slice(0, args.first ?? items.length);
  return {
    nodes,
    totalCount: items.length,
    pageInfo: { hasNextPage: false, hasPreviousPage: nodes.length < items.length, startCursor: null, endCursor: null },
  };
}
export type { Connection };

export async function executeGraphql(
  rawBody: string,
  state: { who: string; owner: string; repo: string; issues: FakeIssue[]; violations: string[] },
): Promise<unknown> {
  let request: { query?: unknown; variables?: unknown };
  try {
    request = JSON.parse(rawBody) as typeof request;
  } catch {
    state.violations.push('POST /graphql: the body is not JSON');
    return { errors: [{ message: 'Problems parsing JSON' }] };
  }
  if (typeof request.query !== 'string') {
    state.violations.push('POST /graphql: no query');
    return { errors: [{ message: 'A query attribute must be specified and must be a string.' }] };
  }
  const issueNode = (issue: FakeIssue) => ({
    number: issue.number,
    title: issue.title,
    body: issue.body,
    author: actor(issue.author),
    createdAt: issue.createdAt,
    lastEditedAt: issue.edits.at(-1)?.editedAt ?? null,
    editor: issue.edits.length > 0 ? actor(issue.edits.at(-1)!.editor) : null,
    // GitHub lists the newest revision first.
    userContentEdits: (args: { first?: number; last?: number }) =>
      page(
        [...issue.edits].reverse().map((edit, index) => ({
          id: `UCE_${issue.number}_${index}`,
          editedAt: edit.editedAt,
          createdAt: edit.editedAt,
          updatedAt: edit.editedAt,
          editor: actor(edit.editor),
          diff: edit.body,
        })),
        args,
      ),
  });
  const root = {
    viewer: actor(state.who),
    repository: (args: { owner: string; name: string }) =>
      args.owner === state.owner && args.name === state.repo
        ? {
            nameWithOwner: `${state.owner}/${state.repo}`,
            issue: (issueArgs: { number: number }) => {
              const issue = state.issues.find((candidate) => candidate.number === issueArgs.number);
              return issue ? issueNode(issue) : null;
            },
          }
        : null,
  };
  const result = await graphql({
    schema: schema(),
    source: request.query,
    rootValue: root,
    variableValues: (request.variables ?? {}) as Record<string, unknown>,
  });
  if (result.errors?.length) state.violations.push(...result.errors.map((error) => `POST /graphql: ${error.message}`));
  return JSON.parse(JSON.stringify(result));
}
