package revfeed_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/tokend/tokend/pkg/revfeed"
)

func samplePage() *revfeed.Page {
	return &revfeed.Page{
		Cursor: "eyJ0Ijp7IkNoYW5nZSI6NX19",
		More:   true,
		Tokens: []revfeed.Token{
			{ID: [16]byte{1, 2, 3}, Revoked: true, Enabled: true, Expiration: 1814535437000, Exp: 1814535437000},
			{ID: [16]byte{0xff}, Enabled: false, Expiration: 1700000000250, Exp: 1814535437999},
			{ID: [16]byte{9}, Enabled: true, Expiration: -1, Exp: 0},
		},
		Users: []revfeed.User{{ID: [16]byte{7}, Disabled: true}, {ID: [16]byte{8}}},
	}
}

func TestPageRoundTrips(t *testing.T) {
	for _, p := range []*revfeed.Page{samplePage(), {Tokens: []revfeed.Token{}, Users: []revfeed.User{}}} {
		b, err := revfeed.Append(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != revfeed.Size(p) {
			t.Fatalf("encoded %d bytes, Size says %d", len(b), revfeed.Size(p))
		}
		got, err := revfeed.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("decoded %+v, want %+v", got, p)
		}
	}
}

func TestEncodingIsTheDocumentedLayout(t *testing.T) {
	p := &revfeed.Page{Cursor: "c", Tokens: []revfeed.Token{{ID: [16]byte{0xab}, Revoked: true, Enabled: true, Expiration: 1, Exp: 258}},
		Users: []revfeed.User{{ID: [16]byte{0xcd}, Disabled: true}}}
	b, _ := revfeed.Append(nil, p)
	want := []byte("TKRV\x01\x00\x00\x01c\x00\x00\x00\x01")
	want = append(want, 0xab)
	want = append(want, make([]byte, 15)...)
	want = append(want, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0xcd)
	want = append(want, make([]byte, 15)...)
	want = append(want, 1)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n%x\nwant\n%x", b, want)
	}
}

func TestDecodeRefusesWhatIsNotOnePage(t *testing.T) {
	good, _ := revfeed.Append(nil, samplePage())
	cases := map[string][]byte{
		"an empty body":             {},
		"JSON":                      []byte(`{"cursor":"","more":false,"tokens":[],"users":[]}`),
		"another version":           append([]byte("TKRV\x02"), good[5:]...),
		"unknown page flags":        append([]byte("TKRV\x01\x02"), good[6:]...),
		"a page cut in a token":     good[:40],
		"a page cut before users":   good[:len(good)-2*17-4],
		"bytes after the page":      append(append([]byte{}, good...), 0),
		"more tokens than it holds": []byte("TKRV\x01\x00\x00\x00\xff\xff\xff\xff"),
	}
	flagged := append([]byte{}, good...)
	flagged[6+2+len(samplePage().Cursor)+4+16] |= 0x80
	cases["unknown token flags"] = flagged
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if p, err := revfeed.Decode(b); err == nil || !strings.HasPrefix(err.Error(), "revfeed: ") {
				t.Fatalf("Decode = %+v, %v; want a revfeed error", p, err)
			}
		})
	}
}
