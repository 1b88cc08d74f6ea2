// Package verifier checks tokend's API tokens in downstream services.
//
// tokend's tokens are PASETO v2.public tokens (Ed25519). Their footer names
// the signing key by its PASERK k2.pid id; their claims carry the issuer,
// the user (sub), the token id (jti), the validity period (iat, nbf, exp),
// the space-separated scope list, and optional restrictions (sourceIp,
// resources). The package verifies them itself, as the PASETO
// specification defines v2.public, and refuses every other version and
// purpose with ErrUnsupported.
//
// A Verifier checks a token offline: the signature against tokend's
// published public keys, the issuer, the validity period with a small
// leeway for clock skew, the source address, the required scopes, and
// tokend's revocation state, which it keeps in sync through tokend's
// revocation feed. Revoking, disabling or shortening a token at tokend
// reaches a synced Verifier within Config.SyncInterval; when tokend cannot
// be reached for longer than Config.MaxStaleness, the Verifier refuses every
// token with ErrStale rather than accept a revoked one. A token signed by a
// key the Verifier does not know is refused at once with ErrUnknownKey and
// makes it fetch tokend's keys in the background, so that Verify never
// waits for tokend.
//
// The revocation state is synced in the feed's compact form (package
// revfeed), gzipped, and held in about 37 bytes a token refused, so that a
// Verifier holds millions: a first sync of a million revocations takes a
// few seconds. Entries are dropped once their tokens' claims have expired.
//
// A Verifier remembers the tokens whose signature verified (see Memo), so
// that a token used again costs a hash and a few lookups rather than an
// Ed25519 verification. It remembers signatures, never decisions: the
// signing key, the times, the revocation state, the source address and
// the scopes are checked at every call.
//
// RequireScopes is net/http middleware built on Verify; package
// echoverifier adapts it to Echo. Handlers find the verified claims with
// FromContext. Refusals are answered by WriteError with the statuses and
// titles of package errcode.
//
// Parse is the lower-level check of one token against a KeySet, without
// revocation state and without memory; Memo.Parse is the same check with
// a memo of verified signatures. tokend itself uses them.
package verifier
