package paserk

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
)

// The k2.pid and k4.pid operations are the same BLAKE2b-264 construction
// with a different header, so the official k4.pid vectors (paseto-standard/
// test-vectors, PASERK/k4.pid.json) check the algorithm; TestPublicIDHasK2Header
// checks the header.
func TestIDMatchesOfficialVectors(t *testing.T) {
	tests := []struct {
		name, keyHex, want string
	}{
		{"k4.pid-1", "0000000000000000000000000000000000000000000000000000000000000000", "k4.pid.S_XQmeEwHbbvRmiyfXfHYpLGjXGzjTRSDoT1YtTakWFE"},
		{"k4.pid-2", "707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f", "k4.pid.9ShR3xc8-qVJ_di0tc9nx0IDIqbatdeM2mqLFBJsKRHs"},
		{"k4.pid-3", "707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e90", "k4.pid.-nyvbaTz8U6TQz7OZWW-iB3va31iAxIpUgzUcVQVmW9A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := hex.DecodeString(tt.keyHex)
			if err != nil {
				t.Fatal(err)
			}
			got := id("k4.pid.", "k4.public."+b64.EncodeToString(key))
			if got != tt.want {
				t.Fatalf("id = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPublicIDHasK2Header(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	got := PublicID(pub)
	if len(got) != len(PIDPrefix)+44 || got[:len(PIDPrefix)] != PIDPrefix {
		t.Fatalf("PublicID = %q, want k2.pid. and 44 base64url characters", got)
	}
	if PublicID(pub) != got {
		t.Fatal("PublicID is not deterministic")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if PublicID(other) == got {
		t.Fatal("different keys share an id")
	}
}

func TestDecodePublicRoundTrip(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	s := EncodePublic(pub)
	got, err := DecodePublic(s)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(pub) {
		t.Fatal("decoded key differs")
	}
}

func TestDecodePublicRefusesOtherInputs(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	enc := b64.EncodeToString(pub)
	for name, s := range map[string]string{
		"a k4 key":          "k4.public." + enc,
		"a secret key":      "k2.secret." + enc,
		"a short key":       "k2.public." + enc[:40],
		"padded base64":     "k2.public." + enc + "=",
		"standard alphabet": "k2.public." + "+/" + enc[2:],
		"an empty string":   "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodePublic(s); err != ErrInvalid {
				t.Fatalf("DecodePublic(%q) error = %v, want ErrInvalid", s, err)
			}
		})
	}
}

// The official k2.sid vectors (PASERK/k2.sid.json) run the same
// construction with version-2 headers; as published, they hash
// "k2.sid." || "k2.secret." || base64url(the vector's 32-byte key field).
func TestIDMatchesOfficialK2SIDVectors(t *testing.T) {
	tests := []struct {
		name, keyHex, want string
	}{
		{"k2.sid-1", "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29", "k2.sid.GipgezWN4zW_tdGWuK6xyWDZyu8l-ag0Ot9ggNddPKKA"},
		{"k2.sid-2", "1ce56a48c82ff99162a14bc544612674e5d61fb9317e65d4055780fdbcb4dc35", "k2.sid.teRrpWEh_erTS1vpG0Nm31WW7dFyrb9AOxA1K7BQ3c_H"},
		{"k2.sid-3", "60fe37571a5d6e7d30b15154ce4a9fb92c70c870848f4ccdf1626588097f73f7", "k2.sid.W2n688KBawHZWOWoZUVvNX4h3EnZNGXy43XDR0_g_z7D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := hex.DecodeString(tt.keyHex)
			if err != nil {
				t.Fatal(err)
			}
			got := id("k2.sid.", "k2.secret."+b64.EncodeToString(key))
			if got != tt.want {
				t.Fatalf("id = %q, want %q", got, tt.want)
			}
		})
	}
}
