package verifier

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// b64 is PASETO's encoding: base64url without padding. Strict refuses
// non-zero trailing bits, so that each token has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// paeOffset is where the message starts in the pre-authentication
// encoding of a v2.public token: PAE(h, m, f) is LE64(3), then each piece
// as LE64(len) followed by its bytes, and h is the 10 bytes of Prefix.
const paeOffset = 8 + 8 + len(Prefix) + 8

// verifyToken checks a token as the PASETO v2.public specification says,
// without a PASETO library: it decodes the body (message and Ed25519
// signature) and the footer, reads the kid from the footer, asks keys for
// that key, verifies the signature over PAE(header, message, footer), and
// decodes the claims. The claims are not checked.
//
// It does directly what go-paseto did for it before, because the library
// decoded and re-encoded the claims three times and made about a hundred
// allocations a token; here the signed bytes are assembled in place on the
// stack, and the token's decoded bytes become one string that the claims
// and kid are cut from.
func verifyToken(raw string, keys KeySet) (*memoEntry, error) {
	if len(raw) > MaxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	if !strings.HasPrefix(raw, Prefix) {
		if strings.HasPrefix(raw, "v2.local.") || strings.HasPrefix(raw, "v1.") ||
			strings.HasPrefix(raw, "v3.") || strings.HasPrefix(raw, "v4.") {
			return nil, ErrUnsupported
		}
		return nil, ErrMalformed
	}
	body, footer, ok := strings.Cut(raw[len(Prefix):], ".")
	if !ok || footer == "" {
		return nil, fmt.Errorf("%w: no footer", ErrMalformed)
	}
	// The decoder skips CR and LF; a token has neither.
	if strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		return nil, fmt.Errorf("%w: line break in token", ErrMalformed)
	}

	// buf holds, from paeOffset on, the decoded body (n bytes: message m
	// and signature) followed by the decoded footer (f bytes). Once the
	// signature is copied out, the footer's length and the footer move
	// over it, which leaves PAE(h, m, f) in buf[:paeOffset+m+8+f].
	n, f := b64.DecodedLen(len(body)), b64.DecodedLen(len(footer))
	if n < ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: body too short for a signature", ErrSignature)
	}
	m := n - ed25519.SignatureSize
	var stack [1024]byte
	buf := stack[:]
	if size := paeOffset + n + f; size > len(stack) {
		buf = make([]byte, size)
	}
	// Each destination is cut to size: the decoder writes past the end of
	// what it decodes when its destination has room.
	if k, err := b64.Decode(buf[paeOffset+n:paeOffset+n+f], []byte(footer)); err != nil || k != f {
		return nil, fmt.Errorf("%w: footer is not base64url", ErrMalformed)
	}
	if k, err := b64.Decode(buf[paeOffset:paeOffset+n], []byte(body)); err != nil || k != n {
		return nil, fmt.Errorf("%w: body is not base64url", ErrMalformed)
	}
	decoded := string(buf[paeOffset : paeOffset+n+f])
	claimsJSON, footerJSON := decoded[:m], decoded[n:]

	kid, err := footerKID(footerJSON)
	if err != nil {
		return nil, err
	}
	pub, ok := keys.PublicKey(kid)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, ErrUnknownKey
	}

	var sig [ed25519.SignatureSize]byte
	copy(sig[:], buf[paeOffset+m:])
	binary.LittleEndian.PutUint64(buf[0:], 3)
	binary.LittleEndian.PutUint64(buf[8:], uint64(len(Prefix)))
	copy(buf[16:], Prefix)
	binary.LittleEndian.PutUint64(buf[16+len(Prefix):], uint64(m))
	binary.LittleEndian.PutUint64(buf[paeOffset+m:], uint64(f))
	copy(buf[paeOffset+m+8:], buf[paeOffset+n:paeOffset+n+f])
	if !ed25519.Verify(pub, buf[:paeOffset+m+8+f], sig[:]) {
		return nil, ErrSignature
	}

	e := &memoEntry{raw: raw, kid: kid, pub: pub}
	if err := decodeClaims(claimsJSON, &e.claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMissingClaims, err)
	}
	if e.claims.SourceIP != "" {
		e.sourceIPs, e.sourceIPsErr = ParseSourceIPs(e.claims.SourceIP)
	}
	return e, nil
}

// footerKID returns the kid of a token's footer. The footer is not yet
// authenticated: it only selects the key the signature is then checked
// with, and the signature covers it. tokend's own footer, {"kid":"…"}
// with a plain ASCII kid, is read without a JSON decoder; any other
// footer goes to encoding/json, which gives the same answer for tokend's.
func footerKID(footer string) (string, error) {
	const open, close = `{"kid":"`, `"}`
	if kid, ok := strings.CutPrefix(footer, open); ok {
		if kid, ok := strings.CutSuffix(kid, close); ok && kid != "" && plainString(kid) {
			return kid, nil
		}
	}
	var ft Footer
	if err := json.Unmarshal([]byte(footer), &ft); err != nil || ft.KeyID == "" {
		return "", fmt.Errorf("%w: footer has no kid", ErrMalformed)
	}
	return ft.KeyID, nil
}

// plainString reports whether s is printable ASCII without quotes or
// backslashes: a JSON string body that means exactly its bytes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
