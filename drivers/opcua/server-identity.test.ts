import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { identityChange, sameIdentity, toNodeId } from './server-identity.ts';

describe('nsu= NodeIds against a namespace array', () => {
  const namespaces = ['http://opcfoundation.org/UA/', 'urn:server', 'urn:a;b', 'urn:plant'];

  it('looks the URI up and keeps the identifier', () => {
    assert.equal(toNodeId('nsu=urn:plant;s=Line1.Temp', namespaces).toString(), 'ns=3;s=Line1.Temp');
    assert.equal(toNodeId('nsu=urn:plant;i=1001', namespaces).toString(), 'ns=3;i=1001');
    assert.equal(toNodeId('nsu=http://opcfoundation.org/UA/;i=2258', namespaces).toString(), 'ns=0;i=2258');
    // a ';' inside the URI is percent-encoded (Part 6, 5.3.1.10)
    assert.equal(toNodeId('nsu=urn:a%3Bb;s=X', namespaces).toString(), 'ns=2;s=X');
    // a string identifier may itself hold ';' and '='
    assert.equal(toNodeId('nsu=urn:plant;s=a;b=c', namespaces).toString(), 'ns=3;s=a;b=c');
  });

  it('plain NodeIds parse as they are, whatever the array', () => {
    assert.equal(toNodeId('ns=2;s=X', []).toString(), 'ns=2;s=X');
    assert.equal(toNodeId('i=85', []).toString(), 'ns=0;i=85');
  });

  it('an unknown URI or bad syntax is an error whose message is the reason', () => {
    assert.throws(() => toNodeId('nsu=urn:nowhere;s=X', namespaces), { message: "BadNodeIdUnknown: namespace urn:nowhere is not in the server's namespace array" });
    assert.throws(() => toNodeId('nsu=urn:plant;q=1', namespaces), { message: 'BadNodeIdInvalid' });
    assert.throws(() => toNodeId('nonsense', namespaces), { message: 'BadNodeIdInvalid' });
  });

  it('follows the URI to whatever index it has (property)', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.webUrl(), { minLength: 1, maxLength: 8 }), fc.nat(), fc.stringMatching(/^[A-Za-z0-9._]{1,20}$/),
      (uris, k, id) => {
        const uri = uris[k % uris.length]!;
        const n = toNodeId(`nsu=${encodeURIComponent(uri)};s=${id}`, uris);
        assert.equal(n.namespace, uris.indexOf(uri));
        assert.equal(n.value, id);
      },
    ));
  });
});

describe('server identity', () => {
  const a = { namespaces: ['u0', 'u1'], startTime: 1000 };
  it('same start time and namespaces: same server numbering', () => {
    assert.ok(sameIdentity(a, { namespaces: ['u0', 'u1'], startTime: 1000 }));
    assert.ok(sameIdentity({ namespaces: [], startTime: Number.NaN }, { namespaces: [], startTime: Number.NaN }));
    assert.equal(identityChange(a, a), '');
  });
  it('says what changed', () => {
    assert.ok(!sameIdentity(a, { ...a, startTime: 2000 }));
    assert.match(identityChange(a, { ...a, startTime: 2000 }), /^server restarted \(start time 1970-01-01T00:00:01.000Z -> 1970-01-01T00:00:02.000Z\)$/);
    assert.ok(!sameIdentity(a, { ...a, namespaces: ['u0', 'u2'] }));
    assert.equal(identityChange(a, { ...a, namespaces: ['u0', 'u1', 'u2'] }), 'namespace array changed');
  });
});
