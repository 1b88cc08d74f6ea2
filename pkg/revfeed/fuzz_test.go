package revfeed_test

import (
	"bytes"
	"testing"

	"github.com/tokend/tokend/pkg/revfeed"
)

// FuzzDecode checks that the decoder accepts only the one encoding of a
// page: whatever it decodes, Append writes back byte for byte.
func FuzzDecode(f *testing.F) {
	pages := []*revfeed.Page{
		{},
		{Cursor: "c1", More: true, Tokens: []revfeed.Token{{ID: [16]byte{1}, Revoked: true, Expiration: 1700000000000, Exp: 1800000000000}}},
		{Cursor: "x", Tokens: []revfeed.Token{{Enabled: true, Expiration: -1, Exp: 0}}, Users: []revfeed.User{{ID: [16]byte{9}, Disabled: true}, {}}},
	}
	for _, p := range pages {
		b, err := revfeed.Append(nil, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add([]byte("TKRV"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := revfeed.Decode(data)
		if err != nil {
			if p != nil {
				t.Fatalf("Decode failed (%v) and returned a page", err)
			}
			return
		}
		again, err := revfeed.Append(nil, p)
		if err != nil {
			t.Fatalf("a decoded page does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("Decode(%x) = %+v, which encodes as %x", data, p, again)
		}
		if revfeed.Size(p) != len(data) {
			t.Fatalf("Size = %d, the encoding has %d bytes", revfeed.Size(p), len(data))
		}
	})
}
