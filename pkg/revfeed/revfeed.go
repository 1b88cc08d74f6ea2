// Package revfeed encodes and decodes the compact form of tokend's
// revocation feed, the pages GET /revocations answers with when asked for
// MediaType: a few bytes a token where the JSON form takes about two
// hundred, read and written without reflection, for verifiers that sync
// millions of revocations.
//
// A page is, with every integer big-endian:
//
//	4 bytes   "TKRV"
//	1 byte    the format's version, 1
//	1 byte    flags: 1 = more pages follow at once
//	2 bytes   the cursor's length, then the cursor
//	4 bytes   the number of tokens, then for each, 33 bytes:
//	            16 bytes  the token's id (jti), a UUID
//	             1 byte   flags: 1 = revoked, 2 = enabled
//	             8 bytes  when the token stops working now, Unix milliseconds
//	             8 bytes  its exp claim, Unix milliseconds
//	4 bytes   the number of users, then for each, 17 bytes:
//	            16 bytes  the user's id (sub), a UUID
//	             1 byte   flags: 1 = disabled
//
// and nothing after. The tokens are in the order of their changes, as in
// the JSON form; unlike it, a token's entry does not name its user.
package revfeed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// MediaType is the media type of the compact form, for Accept and
// Content-Type.
const MediaType = "application/vnd.tokend.revocations"

// Version is the version of the format this package reads and writes.
const Version = 1

const (
	magic      = "TKRV"
	headerSize = len(magic) + 2
	tokenSize  = 16 + 1 + 8 + 8
	userSize   = 16 + 1
)

// Flags of a page, a token and a user.
const (
	pageMore     = 1
	tokenRevoked = 1
	tokenEnabled = 2
	userDisabled = 1
)

// Page is one page of the feed.
type Page struct {
	// Cursor is what the client sends next.
	Cursor string
	// More says another page follows at once.
	More   bool
	Tokens []Token
	Users  []User
}

// Token is the state of a token changed since the cursor.
type Token struct {
	ID               [16]byte
	Revoked, Enabled bool
	// Expiration is when the token stops working now and Exp its exp
	// claim, in Unix milliseconds.
	Expiration, Exp int64
}

// User is the state of a user changed since the cursor.
type User struct {
	ID       [16]byte
	Disabled bool
}

// Size returns the length of the page's encoding.
func Size(p *Page) int {
	return headerSize + 2 + len(p.Cursor) + 4 + len(p.Tokens)*tokenSize + 4 + len(p.Users)*userSize
}

// Append appends the page's encoding to b. It fails only for a cursor
// longer than 65,535 bytes or more than 2³²-1 tokens or users.
func Append(b []byte, p *Page) ([]byte, error) {
	if len(p.Cursor) > math.MaxUint16 || uint64(len(p.Tokens)) > math.MaxUint32 || uint64(len(p.Users)) > math.MaxUint32 {
		return b, errors.New("revfeed: page too large to encode")
	}
	flags := byte(0)
	if p.More {
		flags |= pageMore
	}
	b = append(b, magic...)
	b = append(b, Version, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Cursor)))
	b = append(b, p.Cursor...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Tokens)))
	for i := range p.Tokens {
		t := &p.Tokens[i]
		flags := byte(0)
		if t.Revoked {
			flags |= tokenRevoked
		}
		if t.Enabled {
			flags |= tokenEnabled
		}
		b = append(b, t.ID[:]...)
		b = append(b, flags)
		b = binary.BigEndian.AppendUint64(b, uint64(t.Expiration))
		b = binary.BigEndian.AppendUint64(b, uint64(t.Exp))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Users)))
	for _, u := range p.Users {
		flags := byte(0)
		if u.Disabled {
			flags |= userDisabled
		}
		b = append(b, u.ID[:]...)
		b = append(b, flags)
	}
	return b, nil
}

// Decode decodes a page. It refuses anything but one complete page of
// this version: a wrong magic or version, a truncated page, unknown flags,
// or bytes after the page.
func Decode(data []byte) (*Page, error) {
	d := decoder{data: data}
	if string(d.next(len(magic))) != magic {
		return nil, errors.New("revfeed: not a revocation feed page")
	}
	head := d.next(2)
	if d.err != nil {
		return nil, d.err
	}
	if head[0] != Version {
		return nil, fmt.Errorf("revfeed: page of version %d, not %d", head[0], Version)
	}
	if head[1]&^pageMore != 0 {
		return nil, fmt.Errorf("revfeed: unknown page flags %#x", head[1])
	}
	p := &Page{More: head[1]&pageMore != 0}
	p.Cursor = string(d.next(int(d.uint16())))
	n := d.count(tokenSize)
	if d.err != nil {
		return nil, d.err
	}
	p.Tokens = make([]Token, n)
	for i := range p.Tokens {
		rec := d.next(tokenSize)
		t := &p.Tokens[i]
		copy(t.ID[:], rec)
		if rec[16]&^(tokenRevoked|tokenEnabled) != 0 {
			return nil, fmt.Errorf("revfeed: unknown token flags %#x", rec[16])
		}
		t.Revoked, t.Enabled = rec[16]&tokenRevoked != 0, rec[16]&tokenEnabled != 0
		t.Expiration = int64(binary.BigEndian.Uint64(rec[17:]))
		t.Exp = int64(binary.BigEndian.Uint64(rec[25:]))
	}
	n = d.count(userSize)
	if d.err != nil {
		return nil, d.err
	}
	p.Users = make([]User, n)
	for i := range p.Users {
		rec := d.next(userSize)
		copy(p.Users[i].ID[:], rec)
		if rec[16]&^userDisabled != 0 {
			return nil, fmt.Errorf("revfeed: unknown user flags %#x", rec[16])
		}
		p.Users[i].Disabled = rec[16]&userDisabled != 0
	}
	if len(d.data) > 0 {
		return nil, errors.New("revfeed: bytes after the page")
	}
	return p, nil
}

// errTruncated is Decode's error for a page that ends too soon.
var errTruncated = errors.New("revfeed: truncated page")

// decoder reads a page from the front of data; after the first read past
// its end, err is set and every read returns zeros.
type decoder struct {
	data []byte
	err  error
}

func (d *decoder) next(n int) []byte {
	if d.err != nil || len(d.data) < n {
		d.err = errTruncated
		return make([]byte, n)
	}
	b := d.data[:n]
	d.data = d.data[n:]
	return b
}

func (d *decoder) uint16() uint16 { return binary.BigEndian.Uint16(d.next(2)) }

// count reads a number of records of size bytes each, and checks that
// they fit in what remains, before anything is allocated for them.
func (d *decoder) count(size int) int {
	n := int(binary.BigEndian.Uint32(d.next(4)))
	if d.err == nil && len(d.data)/size < n {
		d.err = errTruncated
	}
	return n
}
