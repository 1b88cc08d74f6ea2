// Package verifier checks tokend's API tokens in downstream services.
//
// tokend's tokens are PASETO v2.public tokens (Ed25519). Their footer names
// the signing key by its PASERK k2.pid id; their claims carry the issuer,
// the user (sub), the token id (jti), the validity period (iat, nbf, exp),
// the space-separated scope list, and optional restrictions (sourceIp,
// resources).
//
// A Verifier checks a token offline: the signature against tokend's
// published public keys, the issuer, the validity period with a small
// leeway for clock skew, the source address, the required scopes, and
// tokend's revocation state, which it keeps in sync through tokend's
// revocation feed. Revoking, disabling or shortening a token at tokend
// reaches a synced Verifier within Config.SyncInterval; when tokend cannot
// be reached for longer than Config.MaxStaleness, the Verifier refuses every
// token with ErrStale rather than accept a revoked one.
//
// RequireScopes is net/http middleware built on Verify; package
// echoverifier adapts it to Echo. Handlers find the verified claims with
// FromContext.
//
// Parse is the lower-level check of one token against a KeySet, without
// revocation state; tokend itself uses it.
package verifier
