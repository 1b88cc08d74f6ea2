package verifier

import (
	"encoding/json"
	"time"
)

// decodeClaims decodes a token's claims JSON into c, exactly as
// json.Unmarshal would. The claims tokend writes (a flat object of the
// known claims, plain ASCII strings, no escapes) are read by a small
// scanner that allocates nothing: c's strings are cut from s. Anything
// else, such as resources, unknown members or escapes, is left to
// encoding/json, so the scanner never has to match it quirk for quirk.
func decodeClaims(s string, c *Claims) error {
	if decodePlainClaims(s, c) {
		return nil
	}
	*c = Claims{}
	return json.Unmarshal([]byte(s), c)
}

// decodePlainClaims decodes s into c if s is a JSON object whose members
// are all among iss, sub, jti, scope, sourceIp, iat, nbf and exp, spelled
// exactly so, each with a plain string value; it reports whether it did.
// On false, c may hold part of the claims.
func decodePlainClaims(s string, c *Claims) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		name, j, ok := plainStringAt(s, i)
		if !ok {
			return false
		}
		j = skipSpace(s, j)
		if j >= len(s) || s[j] != ':' {
			return false
		}
		j = skipSpace(s, j+1)
		value, k, ok := plainStringAt(s, j)
		if !ok {
			return false
		}
		switch name {
		case "iss":
			c.Issuer = value
		case "sub":
			c.Subject = value
		case "jti":
			c.ID = value
		case "scope":
			c.Scope = value
		case "sourceIp":
			c.SourceIP = value
		case "iat", "nbf", "exp":
			var t time.Time
			// What encoding/json calls for a time.Time: the quoted value.
			if t.UnmarshalJSON([]byte(s[j:k])) != nil {
				return false
			}
			switch name {
			case "iat":
				c.IssuedAt = t
			case "nbf":
				c.NotBefore = t
			default:
				c.Expiration = t
			}
		default:
			return false
		}
		k = skipSpace(s, k)
		if k >= len(s) {
			return false
		}
		switch s[k] {
		case ',':
			i = skipSpace(s, k+1)
		case '}':
			return skipSpace(s, k+1) == len(s)
		default:
			return false
		}
	}
}

// plainStringAt reads the JSON string starting at s[i] if it is plain
// (see plainString). It returns the string's contents and the index after
// its closing quote.
func plainStringAt(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
