import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { counterServiceCrd, drainPolicyCrd } from './crds.ts';
import { CRDS_DIR, renderCrds } from './generate-crds.ts';
import { applyDefaults, applyPolicyDefaults } from './types.ts';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

/** Visit every field of a schema with its path (spec.drain.mode, ...). */
function walk(schema: Schema, path: string, visit: (s: Schema, path: string) => void): void {
  visit(schema, path);
  for (const [name, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${name}`, visit);
  if (schema.items) walk(schema.items, `${path}[]`, visit);
  const additional = schema.additionalProperties;
  if (additional && typeof additional === 'object') walk(additional as Schema, `${path}{}`, visit);
}

const rootOf = (crd: ReturnType<typeof counterServiceCrd> | ReturnType<typeof drainPolicyCrd>) =>
  crd.spec.versions[0]?.schema.openAPIV3Schema as Schema;

describe('generated CRDs', () => {
  it('crds/*.yaml match the TypeBox source (run `npm run generate` if this fails)', () => {
    for (const [file, expected] of renderCrds()) {
      const actual = readFileSync(join(CRDS_DIR, file), 'utf8');
      expect(actual, `crds/${file} is stale: run npm run generate`).toBe(expected);
    }
  });

  it('the checked-in YAML parses back to the generated objects', () => {
    const parsed = parse(readFileSync(join(CRDS_DIR, 'lastcall.dev_counterservices.yaml'), 'utf8'));
    expect(parsed).toEqual(counterServiceCrd());
  });

  for (const [kind, crd] of [
    ['CounterService', counterServiceCrd()],
    ['DrainPolicy', drainPolicyCrd()],
  ] as const) {
    describe(kind, () => {
      const root = rootOf(crd);

      it('describes every field (kubectl explain)', () => {
        const missing: string[] = [];
        walk(root, kind, (s, path) => {
          // metadata's schema is fixed by the API server, which refuses anything but `type: object`.
          if (path === `${kind}.metadata`) return;
          if (path.endsWith('{}')) return; // map values are described by the map
          if (typeof s.description !== 'string' || s.description.length < 5) missing.push(path);
        });
        expect(missing).toEqual([]);
      });

      it('bounds every number in spec and every string CEL reads', () => {
        const unbounded: string[] = [];
        walk(root.properties?.spec as Schema, `${kind}.spec`, (s, path) => {
          if (
            (s.type === 'integer' || s.type === 'number') &&
            (s.minimum === undefined || s.maximum === undefined)
          ) {
            unbounded.push(`${path}: number without minimum/maximum`);
          }
          if (s.type === 'string' && s.enum === undefined && s.maxLength === undefined) {
            unbounded.push(`${path}: string without maxLength`);
          }
          if (s.type === 'array' && s.maxItems === undefined)
            unbounded.push(`${path}: array without maxItems`);
        });
        expect(unbounded).toEqual([]);
      });

      it('is structural: types everywhere, anyOf only for int-or-string', () => {
        const problems: string[] = [];
        walk(root, kind, (s, path) => {
          if (s['x-kubernetes-int-or-string'] === true) {
            expect(s.anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
            return;
          }
          if (s.type === undefined) problems.push(`${path}: no type`);
          if (s.anyOf || s.oneOf || s.allOf || s.patternProperties || s.const !== undefined) {
            problems.push(`${path}: not structural`);
          }
        });
        expect(problems).toEqual([]);
      });
    });
  }

  it('CounterService has the printer columns, short names, category and subresources', () => {
    const crd = counterServiceCrd();
    const version = crd.spec.versions[0];
    expect(crd.spec.names.shortNames).toContain('cs');
    expect(crd.spec.names.categories).toEqual(['lastcall']);
    expect(version?.additionalPrinterColumns.filter((c) => !('priority' in c)).map((c) => c.name)).toEqual([
      'Ready',
      'Grace',
      'Image',
      'Phase',
      'Age',
    ]);
    expect(version?.subresources).toEqual({
      status: {},
      scale: {
        specReplicasPath: '.spec.replicas',
        statusReplicasPath: '.status.replicas',
        labelSelectorPath: '.status.selector',
      },
    });
    expect(drainPolicyCrd().spec.scope).toBe('Cluster');
  });

  it('fields with a schema default are not required of the user', () => {
    const spec = rootOf(counterServiceCrd()).properties?.spec as Schema;
    expect(spec.required).toEqual(['image', 'redis']);
  });
});

describe('applyDefaults', () => {
  it('fills in the same defaults as the schema and leaves policy-controlled fields unset', () => {
    const spec = applyDefaults({ image: 'lastcall/workload:v1', redis: { address: 'redis:6379' } });
    expect(spec).toMatchObject({
      replicas: 1,
      redis: { key: 'counter' },
      work: { durationSeconds: 5 },
      drain: { mode: 'Graceful' },
      rollout: { maxSurge: 1, maxUnavailable: 0, minReadySeconds: 0, progressDeadlineSeconds: 600 },
      service: { type: 'ClusterIP', port: 80 },
      logLevel: 'info',
    });
    expect(spec.drain.propagationSeconds).toBeUndefined();
    expect(spec.drain.cleanupSeconds).toBeUndefined();
  });

  it('keeps what the user set and does not change its argument', () => {
    const input = {
      image: 'x/y:1',
      redis: { address: 'r:1' },
      replicas: 3,
      drain: { propagationSeconds: 9 },
    };
    const spec = applyDefaults(input);
    expect(spec.replicas).toBe(3);
    expect(spec.drain).toEqual({ mode: 'Graceful', propagationSeconds: 9 });
    expect(input).toEqual({
      image: 'x/y:1',
      redis: { address: 'r:1' },
      replicas: 3,
      drain: { propagationSeconds: 9 },
    });
  });

  it('defaults a DrainPolicy priority to 0', () => {
    expect(applyPolicyDefaults({})).toEqual({ priority: 0 });
  });
});
