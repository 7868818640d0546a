// JWTs as a site's backend mints them, for the tests that present credentials.
import crypto from 'node:crypto';

const b64url = (b) => Buffer.from(b).toString('base64url');

/** Unix seconds now. */
export const now = () => Math.floor(Date.now() / 1000);

/** A JWT of claims signed with key: alg HS256 (key: the shared secret), RS256 or ES256
 * (key: a PEM private key), or none (no signature). */
export function jwt(claims, { alg = 'HS256', key } = {}) {
    const head = `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
    let sig = '';
    if (alg === 'HS256') sig = crypto.createHmac('sha256', key).update(head).digest('base64url');
    else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(head), key).toString('base64url');
    else if (alg === 'ES256')
        sig = crypto.sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return `${head}.${sig}`;
}
