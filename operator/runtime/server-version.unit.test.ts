import { describe, expect, it } from 'vitest';
import { serverVersionProblem } from './server-version.ts';

describe('serverVersionProblem', () => {
  it.each([
    [{ major: '1', minor: '30', gitVersion: 'v1.30.0' }],
    [{ major: '1', minor: '37', gitVersion: 'v1.37.2' }],
    [{ major: '1', minor: '31+', gitVersion: 'v1.31.4-eks-1' }],
    [{ major: '2', minor: '0' }],
    // unparseable or unstamped (v0.0.0 builds): the benefit of the doubt
    [{ major: '', minor: '' }],
    [{ major: '0', minor: '0', gitVersion: 'v0.0.0-master' }],
    [{}],
  ])('accepts %j', (info) => {
    expect(serverVersionProblem(info)).toBeUndefined();
  });

  it.each([
    [{ major: '1', minor: '29', gitVersion: 'v1.29.9' }, 'Kubernetes v1.29.9 is not supported'],
    [{ major: '1', minor: '28+' }, 'Kubernetes 1.28 is not supported'],
  ])('refuses %j', (info, text) => {
    const problem = serverVersionProblem(info);
    expect(problem).toContain(text);
    expect(problem).toContain('1.30 or later');
    expect(problem).toContain('preStop sleep');
  });
});
